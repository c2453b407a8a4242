/**
 * A cert-manager stand-in running beside the API server: it watches CertificateRequests
 * in the store, approves each new one the way cert-manager's default approver does
 * (`Approved=True`, reason `cert-manager.io`) — or denies it, for a deny issuer — and
 * then answers as the request's issuer is configured to (see `behaviour.ts` for the
 * named issuers, `answers.ts` for what each writes into the status). It is a
 * level-triggered reconciler: every change re-reads the object and moves it at most one
 * step, so its own writes, restarts and behaviour changes all converge.
 */
import { Context, Duration, Effect, FiberMap, Layer, Option, Queue, Result, type Scope } from "effect"
import { getPath, isJsonObject, type JsonObject, type KubeObject } from "../api-server/objects.js"
import { now as nowIso } from "../api-server/rest.js"
import { failure } from "../api-server/status.js"
import { ObjectStore } from "../api-server/store.js"
import { type Answering, answerFor, makeAuthorities } from "./answers.js"
import { defaultBehaviours, IssuerBehaviour } from "./behaviour.js"
import type { CertificateAuthority } from "./ca.js"

export interface IssuerOptions {
  /** Behaviours by issuer name, replacing the defaults (`ca-issuer`, `slow-issuer`, …) of the same name. */
  readonly behaviours?: Readonly<Record<string, IssuerBehaviour>>
  /** Approve (or deny) new requests like cert-manager's approver. Default true; false waits for someone else. */
  readonly autoApprove?: boolean
}

export class Issuer extends Context.Service<
  Issuer,
  {
    readonly ca: CertificateAuthority
    /** Changes how an issuer answers; requests of that issuer not yet finished are re-evaluated. */
    readonly setBehaviour: (issuerName: string, behaviour: IssuerBehaviour) => Effect.Effect<void>
    readonly behaviourOf: (issuerName: string) => Effect.Effect<IssuerBehaviour>
  }
>()("csi/testing/Issuer") {
  static readonly make = (
    ca: CertificateAuthority,
    options?: IssuerOptions,
  ): Effect.Effect<Issuer["Service"], never, ObjectStore | Scope.Scope> =>
    Effect.gen(function* () {
      const store = yield* ObjectStore
      const behaviours = new Map(Object.entries({ ...defaultBehaviours, ...options?.behaviours }))
      const autoApprove = options?.autoApprove ?? true
      // keys (namespace/name) to reconcile, or uids of deleted requests whose delayed signing must stop
      const queue = yield* Queue.unbounded<{ readonly key: string } | { readonly deletedUid: string }>()
      // delayed signings, by CertificateRequest uid
      const delayed = yield* FiberMap.make<string>()
      const authorities = yield* makeAuthorities(Effect.succeed(ca))

      const behaviourOf = (name: string): IssuerBehaviour => behaviours.get(name) ?? IssuerBehaviour.pending()

      const writeStatus = (cr: KubeObject, change: (status: JsonObject, now: string) => JsonObject) =>
        Effect.flatMap(nowIso, (now) =>
          store.update(
            "certificaterequests",
            cr.metadata.namespace ?? "",
            cr.metadata.name ?? "",
            (current) =>
              current.metadata.uid === cr.metadata.uid
                ? Result.succeed({
                    ...current,
                    status: change(isJsonObject(current.status) ? current.status : {}, now),
                  })
                : Result.fail(failure(409, "Conflict", "the CertificateRequest was replaced")),
          ),
        ).pipe(
          Effect.asVoid,
          Effect.catchTag("ApiError", () => Effect.void),
        )

      const reconcile = (key: string): Effect.Effect<void> =>
        Effect.gen(function* () {
          const [namespace, name] = splitKey(key)
          const found = yield* store.find("certificaterequests", namespace, name)
          if (Option.isNone(found)) return
          const cr = found.value
          const ready = conditionOf(cr, "Ready")
          if (ready?.status === "True" || ready?.reason === "Failed" || ready?.reason === "Denied") return
          if (conditionOf(cr, "Denied")?.status === "True") {
            yield* writeStatus(cr, (s, now) =>
              failed(s, now, "Denied", "The CertificateRequest was denied by an approval controller"),
            )
            return
          }
          const issuerName = String(getPath(cr, "spec.issuerRef.name") ?? "")
          const behaviour = behaviourOf(issuerName)
          if (conditionOf(cr, "Approved")?.status !== "True") {
            if (!autoApprove) return
            yield* writeStatus(cr, (s, now) =>
              behaviour._tag === "Deny"
                ? withCondition(s, now, {
                    type: "Denied",
                    status: "True",
                    reason: behaviour.reason ?? "sandbox-approver",
                    message:
                      behaviour.message ??
                      `Denied by the sandbox approver: issuer "${issuerName}" denies every request`,
                  })
                : withCondition(s, now, {
                    type: "Approved",
                    status: "True",
                    reason: "cert-manager.io",
                    message: "Certificate request has been approved by cert-manager.io",
                  }),
            )
            return
          }
          switch (behaviour._tag) {
            case "Sign": {
              if (behaviour.delay === undefined || Duration.toMillis(behaviour.delay) <= 0) {
                yield* answer(cr, behaviour)
                return
              }
              const uid = cr.metadata.uid ?? key
              if (yield* FiberMap.has(delayed, uid)) return
              yield* writeStatus(cr, (s, now) =>
                pending(
                  s,
                  now,
                  `Waiting for the sandbox issuer "${issuerName}" to sign (it takes ${Duration.format(Duration.fromInputUnsafe(behaviour.delay!))})`,
                ),
              )
              yield* FiberMap.run(
                delayed,
                uid,
                Effect.andThen(Effect.sleep(behaviour.delay), answer(cr, behaviour)),
              )
              return
            }
            case "Fail":
              yield* writeStatus(cr, (s, now) =>
                failed(
                  s,
                  now,
                  "Failed",
                  behaviour.message ?? `The sandbox issuer "${issuerName}" is configured to fail`,
                ),
              )
              return
            case "Malformed":
            case "BadAnswer":
              yield* answer(cr, behaviour)
              return
            case "Deny":
            case "Pending": {
              const kind = String(getPath(cr, "spec.issuerRef.kind") ?? "Issuer") || "Issuer"
              yield* writeStatus(cr, (s, now) =>
                pending(
                  s,
                  now,
                  `Referenced "${kind}" not found: ${kind.toLowerCase()}.cert-manager.io "${issuerName}" not found`,
                ),
              )
              return
            }
          }
        })

      /** Ready=True with the behaviour's answer, or Ready=False (Failed) when the request cannot be signed. */
      const answer = (cr: KubeObject, behaviour: Answering) =>
        Effect.gen(function* () {
          const result = yield* Effect.result(answerFor(authorities, cr, behaviour))
          if (Result.isFailure(result)) {
            yield* Effect.logDebug(
              `sandbox issuer: ${cr.metadata.namespace}/${cr.metadata.name} failed: ${result.failure.message}`,
            )
            yield* writeStatus(cr, (s, now) => failed(s, now, "Failed", result.failure.message))
            return
          }
          yield* writeStatus(cr, (s, now) => ({
            ...issued(s, now),
            certificate: result.success.certificate,
            ca: result.success.ca,
          }))
        })

      const requeueIssuer = (issuerName: string) =>
        Effect.gen(function* () {
          const { items } = yield* store.list("certificaterequests", undefined)
          for (const cr of items) {
            if (getPath(cr, "spec.issuerRef.name") !== issuerName) continue
            if (cr.metadata.uid !== undefined) yield* FiberMap.remove(delayed, cr.metadata.uid)
            yield* Queue.offer(queue, { key: keyOf(cr) })
          }
        })

      const subscription = yield* Effect.acquireRelease(
        Effect.orDie(
          store.subscribe("certificaterequests", { _tag: "Snapshot" }, (event) => {
            const uid = event.object.metadata.uid
            if (event.type !== "DELETED") Queue.offerUnsafe(queue, { key: keyOf(event.object) })
            else if (uid !== undefined) Queue.offerUnsafe(queue, { deletedUid: uid })
          }),
        ),
        (s) => Effect.sync(s.unsubscribe),
      )
      for (const event of subscription.initial) Queue.offerUnsafe(queue, { key: keyOf(event.object) })

      yield* Effect.forkScoped(
        Effect.forever(
          Effect.flatMap(Queue.take(queue), (work) =>
            ("key" in work ? reconcile(work.key) : FiberMap.remove(delayed, work.deletedUid)).pipe(
              Effect.catchCause((cause) => Effect.logWarning("sandbox issuer: reconcile failed", cause)),
            ),
          ),
        ),
      )

      return Issuer.of({
        ca,
        setBehaviour: (issuerName, behaviour) =>
          Effect.andThen(
            Effect.sync(() => void behaviours.set(issuerName, behaviour)),
            requeueIssuer(issuerName),
          ),
        behaviourOf: (issuerName) => Effect.sync(() => behaviourOf(issuerName)),
      })
    })

  static readonly layer = (ca: CertificateAuthority, options?: IssuerOptions) =>
    Layer.effect(Issuer, Issuer.make(ca, options))
}

const keyOf = (cr: KubeObject): string => `${cr.metadata.namespace ?? ""}/${cr.metadata.name ?? ""}`

const splitKey = (key: string): [string, string] => {
  const i = key.indexOf("/")
  return [key.slice(0, i), key.slice(i + 1)]
}

const conditionsOf = (status: unknown): ReadonlyArray<JsonObject> =>
  isJsonObject(status) && Array.isArray(status.conditions) ? status.conditions.filter(isJsonObject) : []

const conditionOf = (cr: KubeObject, type: string): JsonObject | undefined =>
  conditionsOf(cr.status).find((c) => c.type === type)

interface Condition {
  readonly type: string
  readonly status: "True" | "False"
  readonly reason: string
  readonly message: string
}

/** Sets a condition; lastTransitionTime moves only when its status changes, as in cert-manager. */
const withCondition = (status: JsonObject, now: string, c: Condition): JsonObject => {
  const existing = conditionsOf(status)
  const old = existing.find((x) => x.type === c.type)
  const next = {
    type: c.type,
    status: c.status,
    lastTransitionTime: old !== undefined && old.status === c.status ? old.lastTransitionTime : now,
    reason: c.reason,
    message: c.message,
  }
  return {
    ...status,
    conditions: old === undefined ? [...existing, next] : existing.map((x) => (x.type === c.type ? next : x)),
  }
}

const pending = (status: JsonObject, now: string, message: string): JsonObject =>
  withCondition(status, now, { type: "Ready", status: "False", reason: "Pending", message })

const failed = (
  status: JsonObject,
  now: string,
  reason: "Failed" | "Denied",
  message: string,
): JsonObject => ({
  ...withCondition(status, now, { type: "Ready", status: "False", reason, message }),
  failureTime: now,
})

const issued = (status: JsonObject, now: string): JsonObject =>
  withCondition(status, now, {
    type: "Ready",
    status: "True",
    reason: "Issued",
    message: "Certificate fetched from issuer successfully",
  })

/**
 * An in-memory `CertificateRequests` for unit tests (ours and users'): no HTTP, no
 * informer, but the live service's contract — a submit of an existing name is a
 * no-op, `awaitIssued` reads the same conditions with the same rules (`outcomeOf`)
 * and fails with RequestFailed reason `Deleted` when the request goes away while it
 * waits. A scriptable issuer answers each request by its issuer's name, with the
 * sandbox issuer's behaviours and signing code; delays run on Effect's Clock, so
 * TestClock drives them. `FakeCertificateRequests` is the test's handle: script the
 * issuers at any time and look at what was submitted and removed (never a token).
 */
import { Context, Duration, Effect, FiberMap, Layer, Option, PubSub, Result } from "effect"
import { formatGoDuration } from "../attributes/duration.js"
import {
  type CertificateRequest,
  type Condition,
  describeConditions,
  outcomeOf,
} from "../kube/certificate-request.js"
import {
  CertificateRequests,
  decision,
  deletedBeforeIssued,
  type SubmitInput,
} from "../kube/certificate-requests.js"
import { apiFailureOf, type RequestName } from "../kube/errors.js"
import { requestUsages } from "../pki/usages.js"
import type { KubeObject } from "./api-server/objects.js"
import { type Answering, answerFor, makeAuthorities } from "./issuer/answers.js"
import { defaultBehaviours, IssuerBehaviour } from "./issuer/behaviour.js"
import { type CertificateAuthority, generateCa } from "./issuer/ca.js"

/** What a test may see of one submitted request: the token only as present or not. */
export interface SubmittedRequest {
  readonly namespace: string
  readonly name: string
  readonly volumeId: string
  readonly issuer: string
  readonly hasToken: boolean
  readonly csrPem: string
}

/** Where a live request stands, as `outcomeOf` reads its conditions. */
export type FakeRequestState = "Pending" | "Issued" | "Denied" | "Failed"

export interface FakeCertificateRequestsOptions {
  /** Behaviours by issuer name, over the sandbox's defaults (`ca-issuer` signs, `deny-issuer` denies, …). */
  readonly behaviours?: Readonly<Record<string, IssuerBehaviour>>
  /** The CA that signs; default: one generated on first use, on the clock of that moment. */
  readonly ca?: CertificateAuthority
}

export class FakeCertificateRequests extends Context.Service<
  FakeCertificateRequests,
  {
    /** Changes how an issuer answers from now on; its requests still pending are answered again. */
    readonly setBehaviour: (issuer: string, behaviour: IssuerBehaviour) => Effect.Effect<void>
    /** The next `submit` fails with the API error this HTTP status means, and creates nothing. */
    readonly failNextSubmit: (status?: number) => Effect.Effect<void>
    /** Every submit that created a request, oldest first. */
    readonly submitted: Effect.Effect<ReadonlyArray<SubmittedRequest>>
    /** Every request deleted, oldest first (deleting an absent request records nothing). */
    readonly removed: Effect.Effect<ReadonlyArray<RequestName>>
    /** The volume's requests that exist now, oldest first. */
    readonly live: (volumeId: string) => Effect.Effect<ReadonlyArray<RequestName>>
    /** None when the request does not exist. */
    readonly stateOf: (request: RequestName) => Effect.Effect<Option.Option<FakeRequestState>>
    /** API write calls so far (create and delete, including failed and no-op ones). */
    readonly writes: Effect.Effect<number>
    /** The CA the issuers sign with. */
    readonly ca: Effect.Effect<CertificateAuthority>
  }
>()("csi/testing/FakeCertificateRequests") {
  /** Provides `CertificateRequests` and this handle, with the sandbox's default issuers. */
  static readonly layer: Layer.Layer<CertificateRequests | FakeCertificateRequests> = Layer.effectContext(
    Effect.suspend(() => makeFake({})),
  )

  /** As `layer`, with issuers and a CA of the test's choosing. */
  static readonly layerWith = (
    options: FakeCertificateRequestsOptions,
  ): Layer.Layer<CertificateRequests | FakeCertificateRequests> => Layer.effectContext(makeFake(options))
}

interface Entry {
  readonly submitted: SubmittedRequest
  /** What the issuer signs: the body the live service would create. */
  readonly body: KubeObject
  request: CertificateRequest
}

type Change = { readonly _tag: "Upsert" | "Delete"; readonly key: string }

const keyOf = (request: RequestName) => `${request.namespace}/${request.name}`
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64")

const approved: Condition = {
  type: "Approved",
  status: "True",
  reason: "cert-manager.io",
  message: "Certificate request has been approved by cert-manager.io",
}
const ready = (status: "True" | "False", reason: string, message: string): Condition => ({
  type: "Ready",
  status,
  reason,
  message,
})

const makeFake = (options: FakeCertificateRequestsOptions) =>
  Effect.gen(function* () {
    const entries = new Map<string, Entry>()
    const submitted: Array<SubmittedRequest> = []
    const removed: Array<RequestName> = []
    const behaviours = new Map(Object.entries({ ...defaultBehaviours, ...options.behaviours }))
    let writes = 0
    let counter = 0
    let failSubmit: number | undefined
    const changes = yield* PubSub.unbounded<Change>()
    // The issuer's work per request, detached from the caller so an interrupted submit is still answered.
    const work = yield* FiberMap.make<string>()
    const ca = yield* Effect.cached(
      options.ca === undefined
        ? Effect.orDie(generateCa("fake-certificate-requests CA"))
        : Effect.succeed(options.ca),
    )
    const authorities = yield* makeAuthorities(ca)

    const behaviourOf = (issuer: string) => behaviours.get(issuer) ?? IssuerBehaviour.pending()

    const setStatus = (key: string, status: NonNullable<CertificateRequest["status"]>) =>
      Effect.suspend(() => {
        const entry = entries.get(key)
        if (entry === undefined) return Effect.void
        entry.request = { ...entry.request, status }
        return PubSub.publish<Change>(changes, { _tag: "Upsert", key })
      })

    const answerWith = (key: string, entry: Entry, behaviour: Answering) =>
      Effect.gen(function* () {
        const result = yield* Effect.result(answerFor(authorities, entry.body, behaviour))
        if (Result.isFailure(result)) {
          yield* setStatus(key, { conditions: [approved, ready("False", "Failed", result.failure.message)] })
          return
        }
        yield* setStatus(key, {
          conditions: [approved, ready("True", "Issued", "Certificate fetched from issuer successfully")],
          certificate: result.success.certificate,
          ca: result.success.ca,
        })
      })

    /** Answers a request as its issuer is configured now; finished requests stay as they are. */
    const answer = (key: string) =>
      Effect.gen(function* () {
        const entry = entries.get(key)
        if (entry === undefined || outcomeOf(entry.request)._tag !== "Pending") return
        const issuer = entry.submitted.issuer
        const behaviour = behaviourOf(issuer)
        switch (behaviour._tag) {
          case "Sign": {
            const delay =
              behaviour.delay === undefined ? Duration.zero : Duration.fromInputUnsafe(behaviour.delay)
            if (Duration.toMillis(delay) > 0) {
              yield* setStatus(key, {
                conditions: [
                  approved,
                  ready(
                    "False",
                    "Pending",
                    `Waiting for issuer "${issuer}" to sign (${Duration.format(delay)})`,
                  ),
                ],
              })
              yield* Effect.sleep(delay)
            }
            return yield* answerWith(key, entry, behaviour)
          }
          case "Deny":
            return yield* setStatus(key, {
              conditions: [
                {
                  type: "Denied",
                  status: "True",
                  reason: behaviour.reason ?? "fake-approver",
                  message: behaviour.message ?? `issuer "${issuer}" denies every request`,
                },
                ready("False", "Denied", "The CertificateRequest was denied by an approval controller"),
              ],
            })
          case "Fail":
            return yield* setStatus(key, {
              conditions: [
                approved,
                ready("False", "Failed", behaviour.message ?? `issuer "${issuer}" is configured to fail`),
              ],
            })
          case "Malformed":
          case "BadAnswer":
            return yield* answerWith(key, entry, behaviour)
          case "Pending":
            return yield* setStatus(key, {
              conditions: [approved, ready("False", "Pending", `Waiting on issuer "${issuer}"`)],
            })
        }
      })

    const startAnswer = (key: string) => FiberMap.run(work, key, answer(key)).pipe(Effect.asVoid)

    const submit = (input: SubmitInput) =>
      Effect.gen(function* () {
        writes += 1
        const request = { namespace: input.pod.namespace, name: input.name }
        if (failSubmit !== undefined) {
          const status = failSubmit
          failSubmit = undefined
          return yield* apiFailureOf({
            verb: "create",
            resource: `CertificateRequest ${request.namespace}/${request.name}`,
            status,
            reason: "Injected",
            detail: "FakeCertificateRequests.failNextSubmit",
          })
        }
        const key = keyOf(request)
        // The live service treats 409 AlreadyExists as its own earlier create.
        if (entries.has(key)) return request
        const record: SubmittedRequest = {
          ...request,
          volumeId: input.volumeId,
          issuer: input.spec.issuerRef.name,
          hasToken: input.token !== undefined,
          csrPem: input.csrPem,
        }
        submitted.push(record)
        entries.set(key, {
          submitted: record,
          body: {
            apiVersion: "cert-manager.io/v1",
            kind: "CertificateRequest",
            metadata: request,
            spec: {
              request: b64(input.csrPem),
              issuerRef: input.spec.issuerRef,
              duration: formatGoDuration(input.spec.duration),
              isCA: input.spec.isCA,
              usages: requestUsages(input.spec.usages),
            },
          },
          request: { metadata: request, spec: { issuerRef: input.spec.issuerRef } },
        })
        yield* PubSub.publish<Change>(changes, { _tag: "Upsert", key })
        yield* startAnswer(key)
        return request
      })

    const remove = (request: RequestName) =>
      Effect.gen(function* () {
        writes += 1
        const key = keyOf(request)
        if (!entries.has(key)) return
        entries.delete(key)
        removed.push(request)
        yield* FiberMap.remove(work, key)
        yield* PubSub.publish<Change>(changes, { _tag: "Delete", key })
      })

    const liveOf = (volumeId: string) =>
      [...entries.values()].filter((e) => e.submitted.volumeId === volumeId).map((e) => e.request.metadata)

    const awaitIssued = (request: RequestName, issuer: string) =>
      Effect.scoped(
        Effect.gen(function* () {
          const key = keyOf(request)
          const subscription = yield* PubSub.subscribe(changes)
          const fields = { ...request, issuer }
          let current = entries.get(key)?.request
          while (true) {
            const decided = current === undefined ? undefined : decision(current, fields)
            if (decided !== undefined) return yield* decided
            const change = yield* PubSub.take(subscription)
            if (change.key !== key) continue
            if (change._tag === "Delete") return yield* deletedBeforeIssued(fields)
            current = entries.get(key)?.request
          }
        }),
      )

    const service = CertificateRequests.of({
      newName: Effect.sync(() => {
        counter += 1
        return `fake-cr-${counter}`
      }),
      submit,
      awaitIssued,
      exists: (request) => Effect.sync(() => entries.has(keyOf(request))),
      describe: (request) => Effect.sync(() => describeConditions(entries.get(keyOf(request))?.request)),
      remove,
      removeForVolume: (volumeId, keep) =>
        Effect.forEach(
          liveOf(volumeId).filter((request) => request.name !== keep),
          remove,
          { discard: true },
        ),
    })

    const handle = FakeCertificateRequests.of({
      setBehaviour: (issuer, behaviour) =>
        Effect.suspend(() => {
          behaviours.set(issuer, behaviour)
          const keys = [...entries].filter(([, e]) => e.submitted.issuer === issuer).map(([key]) => key)
          // A delayed signing in flight starts over under the new behaviour, as in the sandbox.
          return Effect.forEach(keys, startAnswer, { discard: true })
        }),
      failNextSubmit: (status = 503) =>
        Effect.sync(() => {
          failSubmit = status
        }),
      submitted: Effect.sync(() => [...submitted]),
      removed: Effect.sync(() => [...removed]),
      live: (volumeId) => Effect.sync(() => liveOf(volumeId)),
      stateOf: (request) =>
        Effect.sync(() =>
          Option.map(Option.fromUndefinedOr(entries.get(keyOf(request))), (e) => outcomeOf(e.request)._tag),
        ),
      writes: Effect.sync(() => writes),
      ca,
    })

    return Context.make(CertificateRequests, service).pipe(Context.add(FakeCertificateRequests, handle))
  })

/**
 * The CertificateRequests service: submit a request for a volume, wait for the
 * issuer's answer through the node's one shared watch, and clean requests up.
 * The live layer talks to the API server with @kubernetes/client-node; waiting
 * never polls and never opens a watch of its own.
 */
import { randomUUID } from "node:crypto"
import { Context, Effect, Layer, Option, Queue, type Redacted, Result } from "effect"
import { formatGoDuration } from "../attributes/duration.js"
import type { CertificateSpec, PodInfo } from "../attributes/spec.js"
import { cappedBackoff } from "../backoff.js"
import { Config } from "../config.js"
import { requestUsages } from "../pki/usages.js"
import {
  type CertificateRequest,
  decodeCertificateRequest,
  describeConditions,
  outcomeOf,
} from "./certificate-request.js"
import { KubeClient } from "./client.js"
import { type KubeApiFailure, RequestDenied, RequestFailed, type RequestName } from "./errors.js"
import { certificateRequestKind, type Informer } from "./informer.js"
import { hashIdentifier, labelsFor, nodeSelector } from "./labels.js"
import { makeLiveInformer } from "./live-informer.js"

export interface SubmitInput {
  readonly name: string
  readonly volumeId: string
  readonly pod: PodInfo
  readonly spec: CertificateSpec
  readonly csrPem: string
  /** Create as the pod's service account (`--use-token-request`); else as the driver. */
  readonly token: Redacted.Redacted<string> | undefined
}

export interface Issued {
  readonly certificatePem: string
  readonly caPem: string
}

export class CertificateRequests extends Context.Service<
  CertificateRequests,
  {
    /** A fresh request name; record it before `submit` so a crash in between can resume. */
    readonly newName: Effect.Effect<string>
    readonly submit: (input: SubmitInput) => Effect.Effect<RequestName, KubeApiFailure>
    /** Waits, without a deadline, until the request is issued, denied or failed. */
    readonly awaitIssued: (
      request: RequestName,
      issuer: string,
    ) => Effect.Effect<Issued, RequestDenied | RequestFailed>
    /** Whether the request still exists, once the cache has been listed. */
    readonly exists: (request: RequestName) => Effect.Effect<boolean>
    /** The request's conditions in one line, for messages. */
    readonly describe: (request: RequestName) => Effect.Effect<string>
    readonly remove: (request: RequestName) => Effect.Effect<void, KubeApiFailure>
    /** Deletes every request of the volume except `keep`. */
    readonly removeForVolume: (volumeId: string, keep?: string) => Effect.Effect<void, KubeApiFailure>
  }
>()("csi/CertificateRequests") {
  static readonly layer = Layer.effect(
    CertificateRequests,
    Effect.gen(function* () {
      const config = yield* Config
      const kube = yield* KubeClient
      const labelSelector = nodeSelector(config.nodeId)
      const informer = yield* makeLiveInformer({
        kind: certificateRequestKind,
        path: "/apis/cert-manager.io/v1/certificaterequests",
        selector: { labelSelector },
        check: "certificaterequest-watch",
      })

      const submit = Effect.fnUntraced(function* (input: SubmitInput) {
        const requests = input.token === undefined ? kube.driver : kube.forToken(input.token)
        const body = requestBody(config.nodeId, input)
        yield* kube
          .call("create", `CertificateRequest ${input.pod.namespace}/${input.name}`, () =>
            requests.send("POST", collectionPath(input.pod.namespace), body),
          )
          .pipe(
            // A retry after a lost response finds its own request already there.
            Effect.catchIf(
              (error) => error.status === 409,
              () => Effect.void,
            ),
          )
        return { namespace: input.pod.namespace, name: input.name }
      })

      const remove = (request: RequestName) =>
        kube
          .call("delete", `CertificateRequest ${request.namespace}/${request.name}`, () =>
            kube.driver.send("DELETE", objectPath(request)),
          )
          .pipe(
            Effect.catchIf(
              (error) => error.status === 404,
              () => Effect.void,
            ),
            Effect.asVoid,
          )

      const removeForVolume = (volumeId: string, keep?: string) =>
        Effect.gen(function* () {
          const labelled = yield* informer.indexed(hashIdentifier(volumeId))
          const stale = labelled.filter((request) => request.metadata.name !== keep)
          yield* Effect.forEach(stale, (request) => remove(request.metadata), {
            concurrency: 4,
            discard: true,
          })
        })

      // An API failure is retried: the request may hold a certificate that must not be given up on.
      const read: ReadRequest = (request) =>
        kube
          .call("get", `CertificateRequest ${request.namespace}/${request.name}`, () =>
            kube.driver.json("GET", objectPath(request)),
          )
          .pipe(
            Effect.map((raw) => Result.getSuccess(decodeCertificateRequest(raw))),
            Effect.catchIf(
              (error) => error.status === 404,
              () => Effect.succeedNone,
            ),
            Effect.tapError((error) =>
              Effect.logWarning("reading a CertificateRequest failed; retrying", error),
            ),
            Effect.retry(readBackoff),
            // Not reached: the backoff never gives up.
            Effect.orElseSucceed(() => Option.none()),
          )

      return CertificateRequests.of({
        newName: Effect.sync(() => randomUUID()),
        submit,
        awaitIssued: (request, issuer) => awaitIssued(informer, read, request, issuer),
        exists: (request) =>
          informer.firstSync.pipe(
            Effect.andThen(informer.get(request.namespace, request.name)),
            Effect.map(Option.isSome),
          ),
        describe: (request) =>
          informer
            .get(request.namespace, request.name)
            .pipe(Effect.map((cr) => describeConditions(Option.getOrUndefined(cr)))),
        remove,
        removeForVolume,
      })
    }),
  )
}

/** Where a namespace's CertificateRequests are created. */
const collectionPath = (namespace: string) =>
  `/apis/cert-manager.io/v1/namespaces/${encodeURIComponent(namespace)}/certificaterequests`

/** Where one CertificateRequest is read and deleted. */
const objectPath = (request: RequestName) =>
  `${collectionPath(request.namespace)}/${encodeURIComponent(request.name)}`

const requestBody = (nodeId: string, input: SubmitInput) => ({
  apiVersion: "cert-manager.io/v1",
  kind: "CertificateRequest",
  metadata: {
    name: input.name,
    namespace: input.pod.namespace,
    labels: labelsFor(nodeId, input.volumeId),
    annotations: input.spec.annotations,
    // Garbage-collected with the pod even if the driver never gets to delete it.
    ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: input.pod.name, uid: input.pod.uid }],
  },
  spec: {
    request: Buffer.from(input.csrPem, "utf8").toString("base64"),
    issuerRef: input.spec.issuerRef,
    duration: formatGoDuration(input.spec.duration),
    isCA: input.spec.isCA,
    usages: requestUsages(input.spec.usages),
  },
})

/** A read of an answered request that failed is tried again, without end: its certificate is what the volume waits for. */
const readBackoff = cappedBackoff("200 millis", "10 seconds")

type RequestFields = RequestName & { readonly issuer: string }

/** The issuer's answer, once there is one: the certificate, or why there will be none. */
export const decision = (
  request: CertificateRequest,
  fields: RequestFields,
): Effect.Effect<Issued, RequestDenied | RequestFailed> | undefined => {
  const outcome = outcomeOf(request)
  switch (outcome._tag) {
    case "Issued":
      return Effect.succeed({ certificatePem: outcome.certificatePem, caPem: outcome.caPem })
    case "Denied":
      return Effect.fail(new RequestDenied({ ...fields, reason: outcome.reason, detail: outcome.message }))
    case "Failed":
      return Effect.fail(new RequestFailed({ ...fields, reason: outcome.reason, detail: outcome.message }))
    case "Pending":
      return undefined
  }
}

export const deletedBeforeIssued = (fields: RequestFields) =>
  Effect.fail(
    new RequestFailed({
      ...fields,
      reason: "Deleted",
      detail: "the CertificateRequest was deleted before it was issued",
    }),
  )

/** Reads one request whole from the API server; none when it is not there. */
export type ReadRequest = (request: RequestName) => Effect.Effect<Option.Option<CertificateRequest>>

/**
 * The issuer's answer to one request, from the watch. A change brings the request whole;
 * the cache's copy of an answered request lacks its certificate, so one that was answered
 * before this waiter came (a resume after a restart) is read once from the API server.
 */
export const awaitIssued = (informer: Informer, read: ReadRequest, request: RequestName, issuer: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const changes = yield* informer.changesOf(request.namespace, request.name)
      let current: CertificateRequest | undefined = Option.getOrUndefined(
        yield* informer.get(request.namespace, request.name),
      )
      if (current?.certificatesOmitted === true) current = Option.getOrUndefined(yield* read(request))
      const fields = { ...request, issuer }
      while (true) {
        const decided = current === undefined ? undefined : decision(current, fields)
        if (decided !== undefined) return yield* decided
        const change = yield* Queue.take(changes)
        if (change._tag === "Delete") return yield* deletedBeforeIssued(fields)
        current = change.object
      }
    }),
  )

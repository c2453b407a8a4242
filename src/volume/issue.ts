/**
 * One issuance of one volume's certificate, the same program for the first
 * issuance and for every renewal: key → CSR → CertificateRequest → wait for the
 * issuer → check the answer → write all files in one atomic swap. The request's
 * name and its key are recorded before the request is created, so a driver that
 * dies mid-issuance resumes the same request on its next start.
 */
import { Clock, Effect, Option, Random, Redacted } from "effect"
import type { CertificateSpec } from "../attributes/spec.js"
import { Config } from "../config.js"
import { CertificateRequests } from "../kube/certificate-requests.js"
import type { RequestName } from "../kube/errors.js"
import {
  buildCsr,
  CertificateInvalid,
  checkIssued,
  encodePkcs12,
  type IssuedCertificate,
  KeyGenerator,
  type PrivateKey,
} from "../pki/index.js"
import { StorageError } from "./errors.js"
import { secretFiles, specOf } from "./record.js"
import { renewalTime } from "./renewal-time.js"
import { type Issuance, type VolumeMetadata, VolumeStore } from "./store.js"
import { Tokens } from "./tokens.js"

/** The issuer's name is the pod's to choose, of any length; a message needs only enough of it to recognise. */
const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text)

export type { Issuance } from "./store.js"

/** `read`: the volume's metadata when the caller has just read it (no second read of the same file). */
export const issue = Effect.fnUntraced(function* (volumeId: string, read?: Option.Option<VolumeMetadata>) {
  const requests = yield* CertificateRequests
  const stored = read ?? (yield* (yield* VolumeStore).read(volumeId))
  if (Option.isNone(stored)) {
    return yield* new StorageError({ operation: "issue", path: volumeId, reason: "volume is gone" })
  }
  const metadata = stored.value
  const spec = yield* specOf(metadata)
  const { key, request } = yield* resumeOrSubmit(metadata, spec)
  const issued = yield* requests.awaitIssued(request, spec.issuerRef.name).pipe(
    Effect.flatMap((answer) => checkIssued(answer.certificatePem, answer.caPem, key)),
    Effect.mapError((error) =>
      error._tag === "CertificateInvalid"
        ? new CertificateInvalid({
            reason: error.reason,
            message: `issuer ${cut(spec.issuerRef.name, 253)} answered CertificateRequest ${request.namespace}/${request.name} with an unusable certificate (${error.reason}): ${error.message}`,
          })
        : error,
    ),
    // The request is finished either way: a retry starts a new one, so this one must not pile up.
    Effect.tapError(() =>
      forgetPending(volumeId).pipe(Effect.andThen(requests.remove(request).pipe(Effect.ignore))),
    ),
  )
  yield* writeFiles(volumeId, spec, key, issued)
  const issuance = yield* recordIssued(volumeId, spec, request, issued)
  // At most one live request per volume: the issued one stays until the next renewal or unpublish.
  yield* requests
    .removeForVolume(volumeId, request.name)
    .pipe(Effect.catch((error) => Effect.logWarning("could not delete stale CertificateRequests", error)))
  return issuance
})

/** Picks up a request recorded by an earlier run, or makes a new key and request. */
const resumeOrSubmit = Effect.fnUntraced(function* (metadata: VolumeMetadata, spec: CertificateSpec) {
  const config = yield* Config
  const store = yield* VolumeStore
  const keys = yield* KeyGenerator
  const requests = yield* CertificateRequests
  const volumeId = metadata.volumeId
  const pending = metadata.pendingRequest
  if (pending !== undefined) {
    const pendingKey = yield* store.readSecret(volumeId, secretFiles.pendingKey)
    const resumable = Option.isSome(pendingKey) && (yield* requests.exists(pending))
    if (resumable) {
      const key = yield* keys.parse(pendingKey.value, spec.key).pipe(Effect.option)
      if (Option.isSome(key)) {
        yield* Effect.logInfo("resuming the CertificateRequest in flight").pipe(
          Effect.annotateLogs({ request: pending.name }),
        )
        return { key: key.value, request: pending }
      }
    }
    yield* forgetPending(volumeId)
  }
  const key = yield* spec.reusePrivateKey ? reusedKeyOr(volumeId, spec) : keys.generate(spec.key)
  const csrPem = yield* buildCsr(spec, key)
  const name = yield* requests.newName
  const request: RequestName = { namespace: metadata.pod.namespace, name }
  yield* store.writeSecret(volumeId, secretFiles.pendingKey, key.pem)
  yield* store.update(volumeId, (m) => ({ ...m, pendingRequest: request }))
  const token = config.useTokenRequest ? (yield* (yield* Tokens).awaitValid(volumeId)).token : undefined
  // A create once sent runs to its end: whoever stops the volume (unpublish, a gone pod) then
  // finds the request it must delete, rather than one the API server creates just after.
  yield* Effect.uninterruptible(requests.submit({ name, volumeId, pod: metadata.pod, spec, csrPem, token }))
  yield* Effect.logInfo("created CertificateRequest").pipe(Effect.annotateLogs({ request: name }))
  return { key, request }
})

/** `reuse-private-key` keeps the volume's current key when it is readable and fits the spec. */
const reusedKeyOr = Effect.fnUntraced(function* (volumeId: string, spec: CertificateSpec) {
  const keys = yield* KeyGenerator
  const store = yield* VolumeStore
  const current = yield* store.readFile(volumeId, spec.files.privateKey)
  if (Option.isSome(current)) {
    const pem = Redacted.make(new TextDecoder().decode(current.value))
    const reused = yield* keys.parse(pem, spec.key).pipe(Effect.option)
    if (Option.isSome(reused)) return reused.value
  }
  return yield* keys.generate(spec.key)
})

const forgetPending = (volumeId: string) =>
  Effect.gen(function* () {
    const store = yield* VolumeStore
    yield* store.update(volumeId, ({ pendingRequest: _, ...rest }) => rest)
    yield* store.removeSecret(volumeId, secretFiles.pendingKey)
  }).pipe(Effect.ignore)

const writeFiles = (volumeId: string, spec: CertificateSpec, key: PrivateKey, issued: IssuedCertificate) =>
  VolumeStore.use((store) => {
    const files: Array<{ name: string; data: string | Uint8Array }> = [
      { name: spec.files.certificate, data: issued.certificatePem },
      { name: spec.files.ca, data: issued.caPem },
      { name: spec.files.privateKey, data: Redacted.value(key.pem) },
    ]
    const pkcs12 = spec.pkcs12
    if (pkcs12 === undefined) return store.writeFiles(volumeId, files, spec.fsGroup)
    return encodePkcs12({
      key,
      certificatePem: issued.certificatePem,
      caPem: issued.caPem,
      password: pkcs12.password,
      profile: pkcs12.profile,
    }).pipe(
      Effect.flatMap((keystore) => {
        files.push({ name: pkcs12.filename, data: keystore })
        return store.writeFiles(volumeId, files, spec.fsGroup)
      }),
    )
  })

const recordIssued = Effect.fnUntraced(function* (
  volumeId: string,
  spec: CertificateSpec,
  request: RequestName,
  issued: IssuedCertificate,
) {
  const store = yield* VolumeStore
  const issuance = yield* issuanceOf(issued, spec, request.name)
  yield* store.update(volumeId, ({ pendingRequest: _, ...rest }) => ({ ...rest, issuance }))
  yield* store.removeSecret(volumeId, secretFiles.pendingKey)
  return issuance
})

/** What is recorded of a certificate: its validity and when to renew it (never in the past). */
export const issuanceOf = Effect.fnUntraced(function* (
  issued: IssuedCertificate,
  spec: CertificateSpec,
  requestName: string | undefined,
) {
  const random = yield* Random.next
  const next = renewalTime(issued, spec.renewBefore, random)
  const now = yield* Clock.currentTimeMillis
  const issuance: Issuance = {
    ...(requestName === undefined ? {} : { requestName }),
    notBefore: issued.notBefore.toISOString(),
    notAfter: issued.notAfter.toISOString(),
    nextIssuanceAt: new Date(Math.max(next.getTime(), now)).toISOString(),
  }
  return issuance
})

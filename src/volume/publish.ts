/**
 * NodePublishVolume, top to bottom: validate the attributes, and the target path as the
 * disk resolves it, before anything is created; under the volume's lock, register it,
 * start its lifecycle (which issues the certificate), wait for the first issuance unless
 * --continue-on-not-ready, then bind-mount its data read-only onto the pod's target path.
 * A republish of a mounted volume only refreshes the token and returns at once, with no
 * API call; one whose target still holds the volume from an earlier data root takes that
 * back (adopt.ts) and mounts nothing. A failure leaves nothing behind, except a request
 * still in flight when the deadline comes first: issuance continues and kubelet's retry
 * joins it.
 */
import { Clock, Duration, Effect, Option } from "effect"
import {
  needsContinueOnNotReady,
  parseAttributes,
  podIpAttributes,
  withStandInIps,
} from "../attributes/index.js"
import { Config } from "../config.js"
import type { PublishRequest } from "../csi/request.js"
import { CertificateRequests } from "../kube/certificate-requests.js"
import { IssuancePending } from "../kube/errors.js"
import { issueAttempt } from "../observability/metrics.js"
import { adoptEarlierData } from "./adopt.js"
import { TokenMissing } from "./errors.js"
import { GonePods } from "./gone-pods.js"
import { Lifecycle } from "./lifecycle.js"
import { VolumeLocks } from "./locks.js"
import { Mounter } from "./mounter.js"
import { recordOf, secretFiles } from "./record.js"
import { removeVolume } from "./remove.js"
import { VolumeStore } from "./store.js"
import { checkTarget } from "./target.js"
import { Tokens } from "./tokens.js"

/** Answer this long before the caller's deadline, so the answer arrives in time. */
const deadlineMargin = Duration.seconds(1)
/** Callers without a deadline wait at most as long as kubelet would. */
const defaultWait = Duration.seconds(115)

export const publish = Effect.fnUntraced(
  function* (request: PublishRequest) {
    const config = yield* Config
    // The pod has no IP yet when kubelet mounts: such a volume is checked with stand-ins and issued later.
    const ipAttributes = podIpAttributes(request.attributes)
    if (ipAttributes.length > 0 && !config.continueOnNotReady) {
      return yield* needsContinueOnNotReady(ipAttributes)
    }
    const pod = ipAttributes.length > 0 ? withStandInIps(request.pod) : request.pod
    const spec = yield* parseAttributes(request.attributes, pod, request.volumeMountGroup)
    if (config.useTokenRequest && request.token === undefined) return yield* new TokenMissing()
    yield* checkTarget(request.targetPath, "publish")
    const locks = yield* VolumeLocks
    yield* locks.withLock(request.volumeId, request.deadline, publishLocked(request, spec.issuerRef.name))
  },
  (effect, request) =>
    Effect.annotateLogs(effect, {
      volumeId: request.volumeId,
      pod: `${request.pod.namespace}/${request.pod.name}`,
    }),
)

const publishLocked = Effect.fnUntraced(function* (request: PublishRequest, issuer: string) {
  const config = yield* Config
  const store = yield* VolumeStore
  const lifecycle = yield* Lifecycle
  const mounter = yield* Mounter
  if (request.token !== undefined) yield* (yield* Tokens).set(request.volumeId, request.token)

  const existing = yield* store.read(request.volumeId)
  if (Option.isNone(existing)) {
    yield* register(request)
    yield* (yield* GonePods).track(request.volumeId, request.pod)
  }
  // Before the lifecycle starts, so it starts from the files taken back. Only a volume without
  // an issuance can need it: the driver's own metadata went with the earlier data root.
  const adopted =
    (Option.isNone(existing) || existing.value.issuance === undefined) &&
    (yield* adoptEarlierData(request.volumeId, request.targetPath))
  // Starting is a no-op for a running volume, and revives one whose fiber stopped (not a retired one).
  // A volume mounted already has no publish waiting on it: its first issuance retries in the background.
  yield* lifecycle.start(request.volumeId, { retryFirstIssuance: config.continueOnNotReady || adopted })
  if (adopted) return yield* Effect.logInfo("volume published: its target holds it already")
  // Mounted by an earlier publish: the pod may be running on it, so nothing more to wait for.
  if (
    Option.isSome(existing) &&
    (yield* mounter.isBound(store.dataDir(request.volumeId), request.targetPath))
  ) {
    return
  }

  // The mount is prepared (target made, paths checked) while the volume's own fiber issues,
  // so only the mount itself follows the issuer's answer: nothing is mounted before the
  // certificate is there. A failed preparation is reported once the issuance has settled.
  const prepared = yield* Effect.exit(
    mounter.prepareBind(store.dataDir(request.volumeId), request.targetPath),
  )
  if (!config.continueOnNotReady) {
    const settled = yield* awaitFirstIssuance(lifecycle, request)
    // Nothing was mounted. The target stays as prepared: kubelet holds the volume as uncertain
    // and either retries, which finds it ready, or unpublishes, which removes it.
    if (Option.isNone(settled)) return yield* pending(request.volumeId, issuer)
    // An issuance that failed removes the volume.
    if (settled.value._tag === "Failed") {
      yield* removeVolume(request.volumeId, request.targetPath)
      return yield* Effect.fail(settled.value.error)
    }
  }
  // A mount once started runs to its end: a cancelled call must not leave one behind unseen.
  yield* Effect.uninterruptible(
    Effect.flatten(prepared).pipe(Effect.tapError(() => removeVolume(request.volumeId, request.targetPath))),
  )
  yield* Effect.logInfo("volume published")
})

const register = Effect.fnUntraced(function* (request: PublishRequest) {
  const store = yield* VolumeStore
  const now = yield* Clock.currentTimeMillis
  const record = recordOf(request, new Date(now))
  yield* store.register(record.metadata)
  if (record.pkcs12Password !== undefined) {
    yield* store.writeSecret(request.volumeId, secretFiles.pkcs12Password, record.pkcs12Password)
  }
})

/**
 * The first issuance's outcome; none when it is still going just before the deadline
 * (one still pending then leaves the volume, its request and the target, for kubelet's retry).
 */
const awaitFirstIssuance = (lifecycle: Lifecycle["Service"], request: PublishRequest) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    lifecycle.awaitSettled(
      request.volumeId,
      request.deadline === undefined
        ? now + Duration.toMillis(defaultWait)
        : Math.max(now, request.deadline - Duration.toMillis(deadlineMargin)),
    ),
  )

const pending = Effect.fnUntraced(function* (volumeId: string, issuer: string) {
  const store = yield* VolumeStore
  const requests = yield* CertificateRequests
  const metadata = yield* store.read(volumeId)
  const request = Option.flatMapNullishOr(metadata, (m) => m.pendingRequest)
  const conditions = Option.isSome(request)
    ? yield* requests.describe(request.value)
    : "no request created yet"
  yield* issueAttempt("timeout")
  return yield* new IssuancePending({
    volumeId,
    request: Option.match(request, { onNone: () => "", onSome: (r) => `${r.namespace}/${r.name}` }),
    issuer,
    conditions,
  })
})

/**
 * Start-up recovery: the tmpfs under --data-root survives a driver restart, so on
 * start every volume found there is resumed — issued ones get their renewal
 * scheduled, ones never issued resume issuance (a request in flight is picked up,
 * not thrown away). Directories without metadata, and volumes whose target is not
 * mounted and whose kubelet volume directory is gone (the pod is gone), are
 * cleaned up. Runs in the background with bounded parallelism; gRPC serves at once.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Clock, Effect, Layer } from "effect"
import { Config } from "../config.js"
import { Lifecycle } from "./lifecycle.js"
import { VolumeLocks } from "./locks.js"
import { Mounter } from "./mounter.js"
import { removeVolume } from "./remove.js"
import { type VolumeMetadata, VolumeStore } from "./store.js"

const parallelism = 32

/** Kubelet removes the volume's directory (the target's parent) when it tears the pod down. */
const kubeletStillHasVolume = (targetPath: string) =>
  Effect.promise(() =>
    fs.stat(path.dirname(targetPath)).then(
      () => true,
      () => false,
    ),
  )

/** Where a target really is, as the mount table names it (kubelet's root may be a symlink). */
const realPath = (target: string) =>
  Effect.promise(() => fs.realpath(target).catch(() => path.resolve(target)))

const recoverOne = Effect.fnUntraced(
  function* (metadata: VolumeMetadata, mountPoints: ReadonlySet<string>) {
    const config = yield* Config
    const lifecycle = yield* Lifecycle
    const locks = yield* VolumeLocks
    const mounted = mountPoints.has(yield* realPath(metadata.targetPath))
    if (!mounted && !(yield* kubeletStillHasVolume(metadata.targetPath))) {
      yield* Effect.logInfo("removing a volume whose pod is gone")
      return yield* locks.withLock(
        metadata.volumeId,
        undefined,
        removeVolume(metadata.volumeId, metadata.targetPath),
      )
    }
    // A mounted volume has no publish waiting on it: keep retrying its first issuance in the background.
    yield* lifecycle.start(metadata.volumeId, { retryFirstIssuance: mounted || config.continueOnNotReady })
  },
  (effect, metadata, _mountPoints) =>
    effect.pipe(
      Effect.catchCause((cause) => Effect.logError("could not recover volume", cause)),
      Effect.annotateLogs({ volumeId: metadata.volumeId }),
    ),
)

export const recoverVolumes = Effect.gen(function* () {
  const store = yield* VolumeStore
  const started = yield* Clock.currentTimeMillis
  const { volumes, orphans } = yield* store.list()
  yield* Effect.forEach(
    orphans,
    (volumeId) =>
      Effect.logWarning("removing a volume directory without metadata").pipe(
        Effect.andThen(store.remove(volumeId)),
        Effect.annotateLogs({ volumeId }),
      ),
    { discard: true },
  )
  // One read of the mount table for all volumes: with a thousand mounts, one per volume costs seconds.
  const mountPoints = yield* (yield* Mounter).mountPoints
  yield* Effect.forEach(volumes, (metadata) => recoverOne(metadata, mountPoints), {
    concurrency: parallelism,
    discard: true,
  })
  const finished = yield* Clock.currentTimeMillis
  yield* Effect.logInfo("recovered volumes").pipe(
    Effect.annotateLogs({ volumes: volumes.length, orphans: orphans.length, durationMs: finished - started }),
  )
})

export const Recovery = Layer.effectDiscard(
  Effect.forkScoped(
    recoverVolumes.pipe(Effect.catchCause((cause) => Effect.logError("recovery failed", cause))),
  ),
)

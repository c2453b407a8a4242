/**
 * Start-up recovery: the tmpfs under --data-root survives a driver restart, so on
 * start every volume found there is resumed — issued ones get their renewal
 * scheduled, ones never issued resume issuance (a request in flight is picked up,
 * not thrown away). Directories without metadata, and volumes whose target is not
 * mounted and whose kubelet volume directory is gone (the pod is gone), are
 * cleaned up. Volumes whose pod the node's first pod list no longer holds are
 * retired instead of resumed (gone-pods.ts); their mounts stay for kubelet. Runs in
 * the background with bounded parallelism; gRPC serves at once.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Clock, Duration, Effect, Layer, Option } from "effect"
import { Config } from "../config.js"
import { Pods } from "../kube/pods.js"
import { GonePods } from "./gone-pods.js"
import { Lifecycle } from "./lifecycle.js"
import { VolumeLocks } from "./locks.js"
import { Mounter } from "./mounter.js"
import { removeVolume, removeVolumeDir } from "./remove.js"
import { type VolumeMetadata, VolumeStore } from "./store.js"

const parallelism = 32

/**
 * How long renewals wait for the node's first pod list, so a volume whose pod went while
 * the driver was down is not renewed first. Past this (the API away, pods not readable)
 * they start anyway, and gone pods are judged once the list comes.
 */
const firstListWait = Duration.seconds(10)

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

interface Kept {
  readonly volumeId: string
  readonly mounted: boolean
}

/** Removes the volume when its pod is gone from kubelet too; else follows its pod and says it is kept. */
const recoverOne = Effect.fnUntraced(
  function* (metadata: VolumeMetadata, mountPoints: ReadonlySet<string>) {
    const locks = yield* VolumeLocks
    const mounted = mountPoints.has(yield* realPath(metadata.targetPath))
    if (!mounted && !(yield* kubeletStillHasVolume(metadata.targetPath))) {
      yield* Effect.logInfo("removing a volume whose pod is gone")
      yield* locks.withLock(
        metadata.volumeId,
        undefined,
        removeVolume(metadata.volumeId, metadata.targetPath),
      )
      return Option.none<Kept>()
    }
    // Retired before the restart: stays so (Lifecycle reads the mark) until kubelet unpublishes.
    if (metadata.podGoneAt !== undefined) return Option.none<Kept>()
    yield* (yield* GonePods).track(metadata.volumeId, metadata.pod)
    return Option.some<Kept>({ volumeId: metadata.volumeId, mounted })
  },
  (effect, metadata, _mountPoints) =>
    effect.pipe(
      Effect.catchCause((cause) =>
        Effect.logError("could not recover volume", cause).pipe(Effect.as(Option.none<Kept>())),
      ),
      Effect.annotateLogs({ volumeId: metadata.volumeId }),
    ),
)

const startAll = (kept: ReadonlyArray<Kept>, gone: ReadonlySet<string>) =>
  Effect.gen(function* () {
    const config = yield* Config
    const lifecycle = yield* Lifecycle
    for (const { volumeId, mounted } of kept) {
      if (gone.has(volumeId)) continue
      // A mounted volume has no publish waiting on it: keep retrying its first issuance in the background.
      yield* lifecycle.start(volumeId, { retryFirstIssuance: mounted || config.continueOnNotReady })
    }
  })

export const recoverVolumes = Effect.gen(function* () {
  const store = yield* VolumeStore
  const gonePods = yield* GonePods
  const started = yield* Clock.currentTimeMillis
  const { volumes, orphans } = yield* store.list()
  yield* Effect.forEach(
    orphans,
    (volumeId) =>
      Effect.logWarning("removing a volume directory without metadata").pipe(
        Effect.andThen(removeVolumeDir(volumeId)),
        Effect.annotateLogs({ volumeId }),
      ),
    { discard: true },
  )
  // One read of the mount table for all volumes: with a thousand mounts, one per volume costs seconds.
  const mountPoints = yield* (yield* Mounter).mountPoints
  const kept = (yield* Effect.forEach(volumes, (metadata) => recoverOne(metadata, mountPoints), {
    concurrency: parallelism,
  })).flatMap((one) => (Option.isSome(one) ? [one.value] : []))
  const ids = kept.map((one) => one.volumeId)
  const listed = yield* (yield* Pods).firstSync.pipe(Effect.timeoutOption(firstListWait))
  const gone = Option.isSome(listed) ? yield* gonePods.judgeListed(ids) : new Set<string>()
  yield* startAll(kept, gone)
  const finished = yield* Clock.currentTimeMillis
  yield* Effect.logInfo("recovered volumes").pipe(
    Effect.annotateLogs({
      volumes: volumes.length,
      orphans: orphans.length,
      podsGone: gone.size,
      durationMs: finished - started,
    }),
  )
  if (Option.isNone(listed)) {
    yield* Effect.logWarning(
      "renewals started before the node's pods were listed; gone pods are judged once they are",
    )
    yield* gonePods.judgeListed(ids)
  }
})

export const Recovery = Layer.effectDiscard(
  Effect.forkScoped(
    recoverVolumes.pipe(Effect.catchCause((cause) => Effect.logError("recovery failed", cause))),
  ),
)

/**
 * Takes a volume down completely: stop its lifecycle (cancelling any renewal or
 * issuance first), take its bind off the target, delete its CertificateRequests,
 * remove its directory and forget its token. Used by unpublish, by a publish that
 * failed, and by recovery for volumes whose pod is gone. Idempotent. Whatever else is
 * at the target (a mount the driver did not make, a file, a directory with contents)
 * stays, with a warning: CSI asks unpublish to succeed, and it is not ours to remove.
 */
import { Effect } from "effect"
import { quoteCut } from "../csi/target-path.js"
import { GonePods } from "./gone-pods.js"
import { Lifecycle } from "./lifecycle.js"
import { Mounter } from "./mounter.js"
import { VolumeStore } from "./store.js"
import { Tokens } from "./tokens.js"
import { deleteVolumeRequests } from "./volume-requests.js"

export const removeVolume = Effect.fnUntraced(function* (volumeId: string, targetPath: string) {
  const lifecycle = yield* Lifecycle
  const mounter = yield* Mounter
  const store = yield* VolumeStore
  yield* lifecycle.stop(volumeId)
  yield* (yield* GonePods).untrack(volumeId)
  const unbound = yield* mounter.unbind(store.dataDir(volumeId), targetPath)
  if (unbound._tag === "LeftAlone") {
    yield* Effect.logWarning(`left the target path as it is: ${unbound.reason}`).pipe(
      Effect.annotateLogs({ targetPath: quoteCut(targetPath) }),
    )
  }
  yield* deleteVolumeRequests(volumeId)
  yield* removeVolumeDir(volumeId)
  yield* (yield* Tokens).remove(volumeId)
})

/**
 * rm -rf of the volume's directory, once nothing is mounted on its data directory: a data
 * directory taken back from an earlier data root is a bind of that tmpfs, whose files are
 * not to be deleted through it, and it must go for that tmpfs to be freed.
 */
export const removeVolumeDir = Effect.fnUntraced(function* (volumeId: string) {
  const store = yield* VolumeStore
  yield* (yield* Mounter).unmountAll(store.dataDir(volumeId))
  yield* store.remove(volumeId)
})

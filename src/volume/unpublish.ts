/**
 * NodeUnpublishVolume: under the volume's lock, cancel its renewal, unmount, delete
 * its requests and remove its directory. An unknown volume or an already-removed
 * target answers OK, or the pod would be stuck Terminating.
 */
import { Effect } from "effect"
import type { UnpublishRequest } from "../csi/request.js"
import { VolumeLocks } from "./locks.js"
import { removeVolume } from "./remove.js"

export const unpublish = Effect.fn("unpublish")(
  function* (request: UnpublishRequest) {
    const locks = yield* VolumeLocks
    yield* locks.withLock(
      request.volumeId,
      request.deadline,
      removeVolume(request.volumeId, request.targetPath),
    )
    yield* Effect.logInfo("volume unpublished")
  },
  (effect, request) => Effect.annotateLogs(effect, { volumeId: request.volumeId }),
)

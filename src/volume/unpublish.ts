/**
 * NodeUnpublishVolume: check the target path as the disk resolves it, then under the
 * volume's lock cancel its renewal, take its bind off the target, delete its requests
 * and remove its directory. An unknown volume or an already-removed target answers OK,
 * or the pod would be stuck Terminating; so does a target holding something that is not
 * ours, which stays as it is (remove.ts).
 */
import { Effect } from "effect"
import type { UnpublishRequest } from "../csi/request.js"
import { VolumeLocks } from "./locks.js"
import { removeVolume } from "./remove.js"
import { checkTarget } from "./target.js"

export const unpublish = Effect.fnUntraced(
  function* (request: UnpublishRequest) {
    yield* checkTarget(request.targetPath, "unpublish")
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

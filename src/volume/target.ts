/**
 * The target path's rule again (csi/target-path.ts), on the path as the disk resolves
 * it: the request checked the text kubelet sent, but a symlinked parent could still
 * lead into the data root or onto `/`. A kubelet root that is itself a symlink
 * (/var/lib/kubelet → /data/kubelet) resolves to an ordinary target and passes. Only
 * looks: nothing is created before this has passed.
 */
import { Effect } from "effect"
import { Config } from "../config.js"
import { InvalidRequest } from "../csi/request.js"
import { kubeletTargetPath, quoteCut, targetPathProblem } from "../csi/target-path.js"
import type { PathState } from "./inspect.js"
import { Mounter } from "./mounter.js"

export type TargetUse = "publish" | "unpublish"

/**
 * Fails with InvalidRequest when `targetPath` resolves into (or above) the data root, or,
 * to publish, when something other than a directory is there; else says what is there.
 */
export const checkTarget = Effect.fnUntraced(function* (targetPath: string, use: TargetUse) {
  const config = yield* Config
  const mounter = yield* Mounter
  const target = yield* mounter.inspect(targetPath)
  const dataRoot = yield* mounter.inspect(config.dataRoot)
  const problem = targetPathProblem(target.resolved, [config.dataRoot, dataRoot.resolved], targetPath)
  if (problem !== undefined) return yield* new InvalidRequest({ problems: [problem] })
  if (use === "publish" && target.kind === "other") {
    return yield* new InvalidRequest({ problems: [notADirectory(targetPath, target)] })
  }
  return target
})

const notADirectory = (targetPath: string, target: PathState) =>
  `target_path ${quoteCut(targetPath)} is ${target.what}, not a directory: the volume is mounted on a directory, kubelet's ${kubeletTargetPath} (made by the driver when missing)`

/**
 * The CSI Node service: decode and validate each request, run the volume program,
 * and let the bridge map the outcome to a status. Staging, stats and expansion do
 * not apply to ephemeral certificate volumes and answer UNIMPLEMENTED.
 */
import { Effect } from "effect"
import { Config } from "../config.js"
import type { NodeHandlers } from "../gen/csi/v1/Node.js"
import type { NodePublishVolumeRequest__Output } from "../gen/csi/v1/NodePublishVolumeRequest.js"
import type { NodeUnpublishVolumeRequest__Output } from "../gen/csi/v1/NodeUnpublishVolumeRequest.js"
import { Housekeeping } from "../observability/housekeeping.js"
import { Volumes } from "../volume/volumes.js"
import { type CallContext, type Runner, unary } from "./bridge.js"
import { Unimplemented } from "./errors.js"
import { decodePublish, decodeUnpublish } from "./request.js"

/** What NodePublishVolume and NodeUnpublishVolume run, without the gRPC glue (tests run them too). */
export const volumePrograms = (dataRoot: string, volumes: Volumes["Service"], useTokenRequest = false) => ({
  publish: (request: NodePublishVolumeRequest__Output, call: CallContext) =>
    decodePublish(request, call, dataRoot, { useTokenRequest }).pipe(
      Effect.flatMap(volumes.publish),
      Effect.as({}),
    ),
  unpublish: (request: NodeUnpublishVolumeRequest__Output, call: CallContext) =>
    decodeUnpublish(request, call, dataRoot).pipe(Effect.flatMap(volumes.unpublish), Effect.as({})),
})

const unimplemented = (run: Runner, method: string) =>
  unary(run, method, () => Effect.fail(new Unimplemented({ method })))

export const nodeHandlers = Effect.fnUntraced(function* (run: Runner) {
  const config = yield* Config
  const programs = volumePrograms(config.dataRoot, yield* Volumes, config.useTokenRequest)
  // Publishes and unpublishes leave garbage behind: memory is given back once they stop.
  const { worked } = yield* Housekeeping
  return {
    NodeGetInfo: unary(run, "NodeGetInfo", () =>
      Effect.succeed({ node_id: config.nodeId, max_volumes_per_node: "0", accessible_topology: null }),
    ),
    NodeGetCapabilities: unary(run, "NodeGetCapabilities", () =>
      // VOLUME_MOUNT_GROUP makes kubelet pass the pod's fsGroup, so files can be group-readable.
      Effect.succeed({ capabilities: [{ rpc: { type: "VOLUME_MOUNT_GROUP" as const } }] }),
    ),
    NodePublishVolume: unary(run, "NodePublishVolume", programs.publish, worked),
    NodeUnpublishVolume: unary(run, "NodeUnpublishVolume", programs.unpublish, worked),
    NodeStageVolume: unimplemented(run, "NodeStageVolume"),
    NodeUnstageVolume: unimplemented(run, "NodeUnstageVolume"),
    NodeGetVolumeStats: unimplemented(run, "NodeGetVolumeStats"),
    NodeExpandVolume: unimplemented(run, "NodeExpandVolume"),
  } satisfies NodeHandlers
})

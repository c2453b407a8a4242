/** A NodePublishVolume request as kubelet sends it for an inline volume, for the CSI edge's tests. */
import type { NodePublishVolumeRequest__Output } from "../../src/gen/csi/v1/NodePublishVolumeRequest.js"

export const rawPublishRequest = (
  volumeContext: Record<string, string>,
  overrides: Partial<NodePublishVolumeRequest__Output> = {},
): NodePublishVolumeRequest__Output => ({
  volume_id: "csi-abc",
  publish_context: {},
  staging_target_path: "",
  target_path: "/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/tls/mount",
  volume_capability: {
    mount: { fs_type: "", mount_flags: [], volume_mount_group: "" },
    access_mode: { mode: "SINGLE_NODE_WRITER" },
    access_type: "mount",
  },
  readonly: true,
  secrets: {},
  volume_context: volumeContext,
  ...overrides,
})

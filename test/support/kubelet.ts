/**
 * A kubelet stand-in: builds NodePublishVolume/NodeUnpublishVolume requests exactly
 * as kubelet does for an inline ephemeral CSI volume (volume id, target path under
 * the pod's directory, volume_context with pod info), and reads the mounted files
 * through the driver's mount namespace (/proc/<pid>/root) when it has its own.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { type CallResult, CsiClient, volumeIdOf } from "./csi-client.js"

export interface Pod {
  readonly name: string
  readonly namespace: string
  readonly uid: string
  readonly serviceAccountName?: string
}

export interface PublishOptions {
  readonly volumeName?: string
  readonly readOnly?: boolean
  readonly fsGroup?: string
  readonly tokens?: Record<string, { token: string; expirationTimestamp: string }>
  readonly tokensIn?: "volume_context" | "secrets"
  readonly deadlineMs?: number
  readonly extraContext?: Record<string, string>
}

export interface Published {
  readonly volumeId: string
  readonly targetPath: string
  readonly result: CallResult
}

export class Kubelet {
  readonly csi: CsiClient

  /** `root` plays /var/lib/kubelet; `driverPid` is set when the driver has a private mount namespace. */
  readonly root: string
  readonly driverPid: () => number | undefined

  constructor(socket: string, root: string, driverPid: () => number | undefined) {
    this.root = root
    this.driverPid = driverPid
    this.csi = new CsiClient(socket)
  }

  targetPathOf(pod: Pod, volumeName: string) {
    return path.join(this.root, "pods", pod.uid, "volumes", "kubernetes.io~csi", volumeName, "mount")
  }

  publishRequest(pod: Pod, attributes: Record<string, string>, options: PublishOptions = {}) {
    const volumeName = options.volumeName ?? "tls"
    const tokens =
      options.tokens === undefined
        ? {}
        : { "csi.storage.k8s.io/serviceAccount.tokens": JSON.stringify(options.tokens) }
    const inSecrets = options.tokensIn === "secrets"
    return {
      volume_id: volumeIdOf(pod.uid, volumeName),
      target_path: this.targetPathOf(pod, volumeName),
      volume_capability: {
        mount: { fs_type: "", mount_flags: [], volume_mount_group: options.fsGroup ?? "" },
        access_mode: { mode: "SINGLE_NODE_WRITER" },
      },
      readonly: options.readOnly ?? true,
      secrets: inSecrets ? tokens : {},
      volume_context: {
        ...attributes,
        "csi.storage.k8s.io/pod.name": pod.name,
        "csi.storage.k8s.io/pod.namespace": pod.namespace,
        "csi.storage.k8s.io/pod.uid": pod.uid,
        "csi.storage.k8s.io/serviceAccount.name": pod.serviceAccountName ?? "default",
        "csi.storage.k8s.io/ephemeral": "true",
        ...(inSecrets ? {} : tokens),
        ...options.extraContext,
      },
    }
  }

  async publish(
    pod: Pod,
    attributes: Record<string, string>,
    options: PublishOptions = {},
  ): Promise<Published> {
    const request = this.publishRequest(pod, attributes, options)
    // Kubelet creates the volume's directory; the driver creates mount/.
    await fs.mkdir(path.dirname(request.target_path), { recursive: true })
    const result = await this.csi.call("node", "NodePublishVolume", request, options.deadlineMs)
    return { volumeId: request.volume_id, targetPath: request.target_path, result }
  }

  unpublish(volumeId: string, targetPath: string) {
    return this.csi.call("node", "NodeUnpublishVolume", { volume_id: volumeId, target_path: targetPath })
  }

  /** The path as the driver (and the pod's bind mount) sees it. */
  viewOf(file: string) {
    const pid = this.driverPid()
    return pid === undefined ? file : `/proc/${pid}/root${file}`
  }

  readFile(targetPath: string, name: string) {
    return fs.readFile(this.viewOf(path.join(targetPath, name)))
  }

  close() {
    this.csi.close()
  }
}

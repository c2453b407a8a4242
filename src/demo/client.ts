/**
 * The demo's kubelet: a grpc-js client on the driver's unix socket that publishes
 * and unpublishes an inline ephemeral volume with the request kubelet would send.
 */
import { createHash } from "node:crypto"
import * as path from "node:path"
import * as grpc from "@grpc/grpc-js"
import { Effect, Schema } from "effect"
import { loadCsi } from "../csi/proto.js"
import type { NodeClient } from "../gen/csi/v1/Node.js"

export class CsiCallError extends Schema.TaggedError<CsiCallError>()("CsiCallError", {
  method: Schema.String,
  code: Schema.String,
  details: Schema.String,
}) {
  override get message(): string {
    return `${this.method} failed with ${this.code}: ${this.details}`
  }
}

export interface DemoPod {
  readonly name: string
  readonly namespace: string
  readonly uid: string
}

export interface Volume {
  readonly volumeId: string
  readonly targetPath: string
}

export const volumeFor = (kubeletRoot: string, pod: DemoPod, volumeName: string): Volume => ({
  volumeId: `csi-${createHash("sha256")
    .update(pod.uid + volumeName)
    .digest("hex")}`,
  targetPath: path.join(kubeletRoot, "pods", pod.uid, "volumes", "kubernetes.io~csi", volumeName, "mount"),
})

const unary = <Req>(
  method: "NodePublishVolume" | "NodeUnpublishVolume",
  call: (
    request: Req,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null) => void,
  ) => unknown,
  request: Req,
) =>
  Effect.callback<void, CsiCallError>((resume) => {
    call(request, { deadline: Date.now() + 120_000 }, (error) => {
      resume(
        error === null
          ? Effect.void
          : Effect.fail(new CsiCallError({ method, code: grpc.status[error.code], details: error.details })),
      )
    })
  })

export const makeClient = (socket: string) =>
  Effect.acquireRelease(
    Effect.sync(
      () => new (loadCsi().Node)(`unix://${socket}`, grpc.credentials.createInsecure()) as NodeClient,
    ),
    (client) => Effect.sync(() => client.close()),
  ).pipe(
    Effect.map((client) => ({
      publish: (volume: Volume, pod: DemoPod, attributes: Record<string, string>) =>
        unary("NodePublishVolume", client.NodePublishVolume.bind(client), {
          volume_id: volume.volumeId,
          target_path: volume.targetPath,
          volume_capability: {
            mount: { fs_type: "", mount_flags: [] },
            access_mode: { mode: "SINGLE_NODE_WRITER" },
          },
          readonly: true,
          volume_context: {
            ...attributes,
            "csi.storage.k8s.io/pod.name": pod.name,
            "csi.storage.k8s.io/pod.namespace": pod.namespace,
            "csi.storage.k8s.io/pod.uid": pod.uid,
            "csi.storage.k8s.io/serviceAccount.name": "default",
            "csi.storage.k8s.io/ephemeral": "true",
          },
        }),
      unpublish: (volume: Volume) =>
        unary("NodeUnpublishVolume", client.NodeUnpublishVolume.bind(client), {
          volume_id: volume.volumeId,
          target_path: volume.targetPath,
        }),
    })),
  )

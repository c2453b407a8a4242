/**
 * A CSI client for tests that talks to the driver as kubelet does: @grpc/grpc-js
 * over the unix socket, with its own proto loading (not the driver's code).
 */
import { createHash } from "node:crypto"
import * as path from "node:path"
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"

const protoFile = path.resolve(import.meta.dirname, "../../proto/csi.proto")

type Callback = (error: grpc.ServiceError | null, response?: unknown) => void
type Stub = grpc.Client &
  Record<string, (request: unknown, options: grpc.CallOptions, callback: Callback) => void>

export interface CallResult<T = Record<string, unknown>> {
  readonly ok: boolean
  readonly response: T | undefined
  readonly code: grpc.status
  readonly details: string
}

export const volumeIdOf = (podUid: string, volumeName: string) =>
  `csi-${createHash("sha256")
    .update(podUid + volumeName)
    .digest("hex")}`

export class CsiClient {
  readonly identity: Stub
  readonly node: Stub
  readonly controller: Stub

  readonly socket: string

  constructor(socket: string) {
    this.socket = socket
    const definition = protoLoader.loadSync(protoFile, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    })
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      csi: { v1: Record<string, new (address: string, credentials: grpc.ChannelCredentials) => Stub> }
    }
    const address = `unix://${socket}`
    const credentials = grpc.credentials.createInsecure()
    this.identity = new pkg.csi.v1.Identity!(address, credentials)
    this.node = new pkg.csi.v1.Node!(address, credentials)
    this.controller = new pkg.csi.v1.Controller!(address, credentials)
  }

  call<T = Record<string, unknown>>(
    service: "identity" | "node" | "controller",
    method: string,
    request: unknown,
    deadlineMs = 120_000,
  ): Promise<CallResult<T>> {
    return new Promise((resolve) => {
      const stub = this[service]
      stub[method]!.call(stub, request, { deadline: Date.now() + deadlineMs }, (error, response) => {
        if (error === null) resolve({ ok: true, response: response as T, code: grpc.status.OK, details: "" })
        else resolve({ ok: false, response: undefined, code: error.code, details: error.details })
      })
    })
  }

  close() {
    this.identity.close()
    this.node.close()
    this.controller.close()
  }
}

export const codeName = (code: grpc.status) => grpc.status[code]

/**
 * Loads proto/csi.proto once, with the options the generated handler types in
 * src/gen assume (snake_case fields, enum names, int64 as strings, oneof markers).
 * Both the server and test clients use this, so they agree on the wire format.
 */
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import type { ProtoGrpcType } from "../gen/csi.js"
import { packageFile } from "../package-root.js"

export const protoPath = packageFile("proto/csi.proto")

export const loaderOptions: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
}

export const loadCsi = (): ProtoGrpcType["csi"]["v1"] => {
  const definition = protoLoader.loadSync(protoPath, loaderOptions)
  return (grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType).csi.v1
}

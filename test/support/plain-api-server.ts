/**
 * A plain HTTP server standing in for the API server, for tests of the transport itself
 * (what goes on the wire, what a broken answer does), and a kubeconfig that points at it.
 * `closePlainServers` (in an afterEach) closes every server made since it last ran.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { KubeConfig } from "@kubernetes/client-node"

const servers: Array<http.Server> = []

export const closePlainServers = async (): Promise<void> => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
}

/** A kubeconfig (token "t0ken") for a new server on localhost that answers with `handler`. */
export const servePlain = async (handler: http.RequestListener): Promise<KubeConfig> => {
  const server = http.createServer(handler)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "u", token: "t0ken" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  })
  return kubeConfig
}

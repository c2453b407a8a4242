/**
 * The CSI surface of the built driver over its real unix socket, as kubelet and
 * conformance tools see it: identity, node info, capabilities, request validation
 * with messages that name what to fix, flags, and a clean SIGTERM shutdown.
 */
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as path from "node:path"
import * as grpc from "@grpc/grpc-js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { version } from "../../src/version.js"
import type { CsiClient } from "../support/csi-client.js"
import { canMount, DriverProcess, runDriverBinary, whyNoMounts } from "../support/driver-process.js"
import { type Harness, seedAttributes, startHarness } from "./support.js"

const pod = { name: "my-csi-app", namespace: "sandbox", uid: "11111111-2222-3333-4444-555555555555" }

describe("flags", () => {
  it("fails with the reason and the usage when a required flag is missing", async () => {
    const result = await runDriverBinary(["--node-id", "n1"])
    expect(result.code).not.toBe(0)
    const output = result.stdout + result.stderr
    expect(output).toContain("--endpoint")
    expect(output).toContain("USAGE")
  })
  it("rejects an endpoint that is not a unix socket", async () => {
    const result = await runDriverBinary(["--node-id", "n1", "--endpoint", "tcp://127.0.0.1:1"])
    expect(result.code).not.toBe(0)
    expect(result.stdout + result.stderr).toContain("unix:///path/to/csi.sock")
  })
  it("rejects a bad log level", async () => {
    const result = await runDriverBinary([
      "--node-id",
      "n",
      "--endpoint",
      "unix:///tmp/x.sock",
      "--log-level",
      "loud",
    ])
    expect(result.code).not.toBe(0)
    expect(result.stdout + result.stderr).toContain("--log-level")
  })
})

describe.skipIf(!canMount)("CSI identity and node services", () => {
  let h: Harness
  let csi: CsiClient
  beforeAll(async () => {
    h = await startHarness()
    csi = h.kubelet.csi
  })
  afterAll(async () => {
    await h?.close()
  })

  it("GetPluginInfo names the driver and its version", async () => {
    const result = await csi.call("identity", "GetPluginInfo", {})
    expect(result.response).toMatchObject({ name: "csi.cert-manager.io", vendor_version: version })
  })

  it("GetPluginCapabilities offers no controller service", async () => {
    const result = await csi.call<{ capabilities: Array<unknown> }>("identity", "GetPluginCapabilities", {})
    expect(result.ok).toBe(true)
    expect(JSON.stringify(result.response)).not.toContain("CONTROLLER_SERVICE")
  })

  it("Probe reports ready", async () => {
    const result = await csi.call("identity", "Probe", {})
    expect(result.response).toMatchObject({ ready: { value: true } })
  })

  it("NodeGetInfo returns the node id; NodeGetCapabilities offers VOLUME_MOUNT_GROUP", async () => {
    expect((await csi.call("node", "NodeGetInfo", {})).response).toMatchObject({ node_id: "e2e-node" })
    const caps = await csi.call("node", "NodeGetCapabilities", {})
    expect(caps.response).toMatchObject({ capabilities: [{ rpc: { type: "VOLUME_MOUNT_GROUP" } }] })
  })

  it("ControllerGetCapabilities is one UNKNOWN; other controller and staging calls are UNIMPLEMENTED", async () => {
    // csi-sanity calls it before every node spec and rejects an empty list.
    expect((await csi.call("controller", "ControllerGetCapabilities", {})).response).toEqual({
      capabilities: [{ rpc: { type: "UNKNOWN" }, type: "rpc" }],
    })
    const stage = await csi.call("node", "NodeStageVolume", { volume_id: "v", staging_target_path: "/x" })
    expect(stage.code).toBe(grpc.status.UNIMPLEMENTED)
    // A method our proto subset leaves out, called by its wire name.
    const createVolume = await new Promise<grpc.ServiceError | null>((resolve) => {
      csi.controller.makeUnaryRequest(
        "/csi.v1.Controller/CreateVolume",
        () => Buffer.alloc(0),
        (b: Buffer) => b,
        {},
        (error) => resolve(error),
      )
    })
    expect(createVolume?.code).toBe(grpc.status.UNIMPLEMENTED)
  })

  const publishWith = (change: (request: ReturnType<typeof h.kubelet.publishRequest>) => unknown) =>
    csi.call("node", "NodePublishVolume", change(h.kubelet.publishRequest(pod, seedAttributes)))

  it.each([
    [
      "a missing volume_id",
      (r: Record<string, unknown>) => ({ ...r, volume_id: "" }),
      "volume_id is required",
    ],
    [
      "a missing target_path",
      (r: Record<string, unknown>) => ({ ...r, target_path: "" }),
      "target_path is required",
    ],
    [
      "a missing volume_capability",
      (r: Record<string, unknown>) => ({ ...r, volume_capability: null }),
      "volume_capability is required",
    ],
    [
      "block access",
      (r: Record<string, unknown>) => ({
        ...r,
        volume_capability: { block: {}, access_mode: { mode: "SINGLE_NODE_WRITER" } },
      }),
      "block volumes are not supported",
    ],
    ["readonly=false", (r: Record<string, unknown>) => ({ ...r, readonly: false }), "readOnly: true"],
    [
      "a non-ephemeral volume",
      (r: { volume_context: Record<string, string> }) => ({
        ...r,
        volume_context: { ...r.volume_context, "csi.storage.k8s.io/ephemeral": "false" },
      }),
      "inline ephemeral volumes",
    ],
    [
      "a missing issuer-name",
      (r: { volume_context: Record<string, string> }) => {
        const { "csi.cert-manager.io/issuer-name": _, ...rest } = r.volume_context
        return { ...r, volume_context: rest }
      },
      "csi.cert-manager.io/issuer-name",
    ],
    [
      "a typo in an attribute key",
      (r: { volume_context: Record<string, string> }) => ({
        ...r,
        volume_context: { ...r.volume_context, "csi.cert-manager.io/dns-name": "a.example.com" },
      }),
      "csi.cert-manager.io/dns-names",
    ],
    [
      "a bad key size",
      (r: { volume_context: Record<string, string> }) => ({
        ...r,
        volume_context: { ...r.volume_context, "csi.cert-manager.io/key-size": "1024" },
      }),
      "csi.cert-manager.io/key-size",
    ],
    [
      "an unknown variable",
      (r: { volume_context: Record<string, string> }) => ({
        ...r,
        volume_context: { ...r.volume_context, "csi.cert-manager.io/common-name": "${NODE_NAME}" },
      }),
      "POD_NAME",
    ],
  ])("NodePublishVolume with %s is INVALID_ARGUMENT, saying what to fix", async (_name, change, expected) => {
    const result = await publishWith(change as (r: unknown) => unknown)
    expect(result.code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(result.details).toContain(expected)
  })

  it("creates nothing for an invalid request", async () => {
    await publishWith((r) => ({
      ...r,
      volume_context: { ...r.volume_context, "csi.cert-manager.io/duration": "forever" },
    }))
    expect(await h.sandbox.listCertificateRequests()).toHaveLength(0)
    expect(await fs.readdir(h.namespace.view(h.driver.dataRoot))).toEqual([])
  })

  it("NodeUnpublishVolume validates its fields and answers OK for an unknown volume", async () => {
    const missing = await csi.call("node", "NodeUnpublishVolume", { volume_id: "", target_path: "" })
    expect(missing.code).toBe(grpc.status.INVALID_ARGUMENT)
    const unknown = await csi.call("node", "NodeUnpublishVolume", {
      volume_id: "csi-unknown",
      target_path: path.join(h.driver.kubeletRoot, "pods/x/volumes/kubernetes.io~csi/tls/mount"),
    })
    expect(unknown.ok).toBe(true)
  })
})

describe.skipIf(!canMount)("socket lifecycle", () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(async () => {
    await h?.close()
  })

  it("SIGTERM stops serving, removes the socket and exits 0", async () => {
    const socket = h.driver.socket
    expect(await h.driver.stop("SIGTERM")).toBe(0)
    await expect(fs.access(socket)).rejects.toThrow()
  })

  it("removes a stale socket left by a killed driver, and refuses a live one", async () => {
    await h.restart({ signal: "SIGKILL" })
    // The killed driver left its socket file behind; the new one serves anyway.
    expect((await h.kubelet.csi.call("identity", "Probe", {})).ok).toBe(true)
    // A second driver on the same live socket must not steal it.
    const second = await DriverProcess.start({
      kubeconfig: h.kubeconfig,
      namespace: h.namespace,
      dir: h.driver.dir,
    })
    expect(await second.exited).not.toBe(0)
    expect(second.logs()).toContain("another process is serving")
    expect((await h.kubelet.csi.call("identity", "Probe", {})).ok).toBe(true)
  })

  it("creates the socket's directory when missing", async () => {
    const socket = h.driver.socket
    await h.driver.stop()
    await fs.rm(path.dirname(socket), { recursive: true, force: true })
    await h.restart()
    const reachable = await new Promise<boolean>((resolve) => {
      const client = net.connect(socket)
      client.once("connect", () => {
        client.destroy()
        resolve(true)
      })
      client.once("error", () => resolve(false))
    })
    expect(reachable).toBe(true)
  })
})
if (!canMount) console.warn(whyNoMounts)

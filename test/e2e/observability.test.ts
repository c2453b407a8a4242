/**
 * What an operator sees from outside: /metrics moving with the work, /healthz and
 * /readyz (and CSI Probe) telling a driver fault from an API outage, events on the
 * pod, and no key, token or password in any output.
 */
import { randomUUID } from "node:crypto"
import * as net from "node:net"
import * as grpc from "@grpc/grpc-js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { canMount, whyNoMounts } from "../support/driver-process.js"
import type { Pod } from "../support/kubelet.js"
import { type Harness, newPod as newPodIn, seedAttributes, startHarness } from "./support.js"

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })

const until = async (what: string, probe: () => Promise<boolean>, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await probe()) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe.skipIf(!canMount)("observability", () => {
  let h: Harness
  let base: string
  beforeAll(async () => {
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    h = await startHarness({ args: [`--metrics-bind-address=127.0.0.1:${port}`, "--use-token-request"] })
    await until("the metrics server", () =>
      fetch(`${base}/healthz`).then(
        () => true,
        () => false,
      ),
    )
  })
  afterAll(async () => {
    await h?.close()
  })

  const get = (p: string) =>
    fetch(`${base}${p}`).then(async (r) => ({ status: r.status, text: await r.text() }))
  const metric = async (name: string, labels = "") => {
    const { text } = await get("/metrics")
    const line = text.split("\n").find((l) => l.startsWith(`${name}${labels === "" ? "" : `{${labels}`}`))
    return line === undefined ? 0 : Number(line.split(" ").at(-1))
  }
  const newPod = (): Promise<Pod> =>
    newPodIn(h, { name: `obs-${randomUUID().slice(0, 8)}`, serviceAccountName: "app" })
  const tokenFor = () => ({
    "": {
      token: h.sandbox.serviceAccountToken("sandbox", "app"),
      expirationTimestamp: new Date(Date.now() + 3_600_000).toISOString(),
    },
  })
  const eventsOf = async (pod: Pod) =>
    (await h.sandbox.listObjects("events", pod.namespace)).filter(
      (e) => (e as unknown as { involvedObject: { uid: string } }).involvedObject.uid === pod.uid,
    ) as unknown as Array<{ reason: string; message: string; type: string; count: number }>

  it("counts issuances, gRPC calls, API requests and managed volumes", async () => {
    const issued = await metric("certmanager_csi_issue_requests_total", 'outcome="issued"')
    const pod = await newPod()
    const published = await h.kubelet.publish(pod, seedAttributes, { tokens: tokenFor() })
    expect(published.result.details).toBe("")
    expect(await metric("certmanager_csi_issue_requests_total", 'outcome="issued"')).toBe(issued + 1)
    expect(
      await metric("certmanager_csi_grpc_requests_total", 'method="NodePublishVolume",code="OK"'),
    ).toBeGreaterThan(0)
    expect(
      await metric("certmanager_csi_kube_api_requests_total", 'verb="create",code="201"'),
    ).toBeGreaterThan(0)
    expect(await metric("certmanager_csi_managed_volumes")).toBeGreaterThanOrEqual(1)
    const expiry = await metric("certmanager_csi_earliest_expiry_seconds")
    expect(expiry).toBeGreaterThan(700 * 3600)
    expect(await metric("certmanager_csi_next_renewal_seconds")).toBeLessThan(expiry)
    expect(await metric("process_resident_memory_bytes")).toBeGreaterThan(0)
    const { text } = await get("/metrics")
    expect(text).toContain("certmanager_csi_grpc_request_duration_seconds_bucket")
    expect(text).toContain("certmanager_csi_issuance_duration_seconds_bucket")
    // No label takes a volume id or a pod name.
    expect(text).not.toContain(published.volumeId)
    expect(text).not.toContain(pod.name)
  })

  it("posts events on the pod for denied, failed and pending issuance", async () => {
    const denied = await newPod()
    const deniedResult = await h.kubelet.publish(
      denied,
      { ...seedAttributes, "csi.cert-manager.io/issuer-name": "deny-issuer" },
      { tokens: tokenFor() },
    )
    expect(deniedResult.result.code).toBe(grpc.status.FAILED_PRECONDITION)
    expect((await eventsOf(denied)).map((e) => e.reason)).toContain("IssuanceDenied")

    const failed = await newPod()
    await h.kubelet.publish(
      failed,
      { ...seedAttributes, "csi.cert-manager.io/issuer-name": "fail-issuer" },
      { tokens: tokenFor() },
    )
    expect((await eventsOf(failed)).map((e) => e.reason)).toContain("IssuanceFailed")

    const pending = await newPod()
    const pendingResult = await h.kubelet.publish(
      pending,
      { ...seedAttributes, "csi.cert-manager.io/issuer-name": "missing-issuer" },
      { tokens: tokenFor(), deadlineMs: 12_000 },
    )
    expect(pendingResult.result.code).toBe(grpc.status.DEADLINE_EXCEEDED)
    const [event] = (await eventsOf(pending)).filter((e) => e.reason === "IssuancePending")
    expect(event?.type).toBe("Warning")
    expect(event?.message).toContain("missing-issuer")
    expect(event?.message).toMatch(/CertificateRequest sandbox\/[0-9a-f-]+/)
    expect(await metric("certmanager_csi_issue_requests_total", 'outcome="timeout"')).toBeGreaterThan(0)
    expect(await metric("certmanager_csi_issue_requests_total", 'outcome="denied"')).toBeGreaterThan(0)
    await h.kubelet.unpublish(pendingResult.volumeId, pendingResult.targetPath)
  }, 30_000)

  it("/readyz follows the API server; /healthz and Probe do not", async () => {
    expect((await get("/readyz")).status).toBe(200)
    await h.sandbox.stop()
    await until("unready", async () => (await get("/readyz")).status === 503)
    expect((await get("/healthz")).status).toBe(200)
    expect((await h.kubelet.csi.call("identity", "Probe", {})).ok).toBe(true)
    await h.sandbox.start()
    await until("ready again", async () => (await get("/readyz")).status === 200)
  }, 40_000)

  it("/healthz and Probe fail when the data root becomes unwritable", async () => {
    h.namespace.exec([...h.namespace.prefix(), "mount", "-o", "remount,ro", h.driver.dataRoot])
    try {
      const health = await get("/healthz")
      expect(health.status).toBe(503)
      expect(health.text).toContain("data-root")
      const probe = await h.kubelet.csi.call("identity", "Probe", {})
      expect(probe.ok).toBe(false)
    } finally {
      h.namespace.exec([...h.namespace.prefix(), "mount", "-o", "remount,rw", h.driver.dataRoot])
    }
    expect((await get("/healthz")).status).toBe(200)
  })

  it("logs one line per gRPC call, and never a key, token or password", async () => {
    const pod = await newPod()
    const tokens = tokenFor()
    const published = await h.kubelet.publish(
      pod,
      {
        ...seedAttributes,
        "csi.cert-manager.io/pkcs12-enable": "true",
        "csi.cert-manager.io/pkcs12-password": "hunter2-p12-pass",
      },
      { tokens },
    )
    expect(published.result.details).toBe("")
    const key = (await h.kubelet.readFile(published.targetPath, "tls.key")).toString()
    const keyBody = key.split("\n").slice(1, 3).join("")
    const logs = h.driver.logs()
    const callLines = logs
      .split("\n")
      .filter((l) => l.includes('"gRPC call') && l.includes("NodePublishVolume"))
    expect(callLines.length).toBeGreaterThan(0)
    expect(callLines[0]).toMatch(/"durationMs"/)
    const outputs = [
      logs,
      (await get("/metrics")).text,
      JSON.stringify(await h.sandbox.listObjects("events")),
      JSON.stringify(await h.sandbox.listCertificateRequests()),
    ].join("\n")
    expect(outputs).not.toContain(keyBody)
    expect(outputs).not.toContain(tokens[""].token)
    expect(outputs).not.toContain("hunter2-p12-pass")
  })
})
if (!canMount) console.warn(whyNoMounts)

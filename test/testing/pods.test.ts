/**
 * The sandbox's pods as a node's driver sees them: a watch with the field selector
 * `spec.nodeName=<node>` shows only that node's pods, and their IPs, conditions and
 * annotations changing and their deletion; the status IPs follow the apiserver's rules.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningSandbox, startSandbox } from "../../src/testing/sandbox.js"
import { clientsFor, eventually, raw, record } from "./support.js"

let sb: RunningSandbox
beforeAll(async () => {
  sb = await startSandbox()
})
afterAll(async () => {
  await sb?.close()
})

describe("pods on a node", () => {
  it("a node-scoped watch sees its pods change and go, and nothing of other nodes", async () => {
    const clients = clientsFor(sb, sb.driverToken)
    const watch = await record(clients, "/api/v1/pods", { fieldSelector: "spec.nodeName=node-a" })
    try {
      await sb.registerPod({ namespace: "ns", name: "here", nodeName: "node-a" })
      await sb.registerPod({ namespace: "ns", name: "elsewhere", nodeName: "node-b" })
      await sb.updatePod("ns", "elsewhere", { ips: ["10.0.9.9"] })
      await sb.updatePod("ns", "here", { ips: ["10.0.0.7", "fd00::7"] })
      await sb.updatePod("ns", "here", {
        conditions: [{ type: "example.com/net", status: "True" }],
        annotations: { "k8s.v1.cni.cncf.io/network-status": "[]" },
      })
      await sb.deletePod("ns", "here")
      await sb.deletePod("ns", "elsewhere")
      const events = await eventually(() => (watch.events.length >= 4 ? watch.events : undefined))
      expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toStrictEqual([
        "ADDED here",
        "MODIFIED here",
        "MODIFIED here",
        "DELETED here",
      ])
      expect(events[1]?.object.status.podIP).toBe("10.0.0.7")
      expect(events[1]?.object.status.podIPs).toStrictEqual([{ ip: "10.0.0.7" }, { ip: "fd00::7" }])
      expect(events[2]?.object.status.conditions).toMatchObject([{ type: "example.com/net", status: "True" }])
      expect(events[2]?.object.metadata.annotations).toStrictEqual({
        "k8s.v1.cni.cncf.io/network-status": "[]",
      })
    } finally {
      watch.stop()
    }
  })

  it("an annotation set to null is removed; a condition keeps its transition time while its status stays", async () => {
    await sb.registerPod({ namespace: "ns", name: "notes", nodeName: "node-a" })
    await sb.updatePod("ns", "notes", {
      annotations: { a: "1", b: "2" },
      conditions: [{ type: "Ready", status: "False" }],
    })
    const first = await sb.updatePod("ns", "notes", {
      annotations: { a: null },
      conditions: [{ type: "Ready", status: "False" }],
    })
    expect(first.metadata.annotations).toStrictEqual({ b: "2" })
    const since = (first.status as { conditions: Array<{ lastTransitionTime: string }> }).conditions[0]
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const again = await sb.updatePod("ns", "notes", { conditions: [{ type: "Ready", status: "False" }] })
    expect((again.status as { conditions: Array<unknown> }).conditions[0]).toStrictEqual(since)
  })

  it.each([
    [["10.0.0.300"], "must be a valid IP address"],
    [["10.0.0.1", "10.0.0.2"], "may specify no more than one IP for each IP family"],
    [["fd00::1", "10.0.0.1", "fd00::2"], "may specify no more than one IP for each IP family"],
    [["fe80::1%eth0"], "must be a valid IP address"],
  ])("refuses pod IPs %j as the API server does", async (ips, reason) => {
    const name = `bad-${Math.random().toString(36).slice(2, 8)}`
    await sb.registerPod({ namespace: "ns", name, nodeName: "node-a" })
    await expect(sb.updatePod("ns", name, { ips })).rejects.toMatchObject({
      reason: expect.stringContaining(reason),
    })
  })

  it("a status update through the API keeps podIP authoritative and podIPs[0] equal to it", async () => {
    await sb.registerPod({ namespace: "ns", name: "kubelet", nodeName: "node-a" })
    const path = "/api/v1/namespaces/ns/pods/kubelet/status"
    const current = (await raw(sb, "GET", path)).json()
    const status = { ...(current.status as object), podIP: "10.0.0.5", podIPs: [{ ip: "10.0.0.6" }] }
    const put = await raw(sb, "PUT", path, { body: { ...current, status } })
    expect(put.status, put.text).toBe(200)
    expect((put.json().status as { podIPs: unknown }).podIPs).toStrictEqual([{ ip: "10.0.0.5" }])
    const only = { ...(put.json().status as object), podIP: "fd00::5", podIPs: undefined }
    const second = await raw(sb, "PUT", path, { body: { ...put.json(), status: only } })
    expect(second.json().status).toMatchObject({ podIP: "fd00::5", podIPs: [{ ip: "fd00::5" }] })
    const invalid = {
      ...(second.json().status as object),
      podIPs: [{ ip: "fd00::5" }, { ip: "fd00::5" }],
      podIP: "fd00::5",
    }
    const refused = await raw(sb, "PUT", path, { body: { ...second.json(), status: invalid } })
    expect(refused.status).toBe(422)
    expect(refused.text).toContain("Duplicate value")
  })
})

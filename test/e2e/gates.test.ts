// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${POD_IP} in attribute values is the syntax under test
/**
 * Readiness gates and `${POD_IP}`/`${POD_IPS}` end to end, on the built driver with real
 * mounts and the sandbox's pods: a gated or IP-using volume mounts at once, no
 * CertificateRequest exists until the test changes the pod, then one comes within a
 * second (the pod watch, not the backoff), and the certificate that arrives after the
 * mount carries the pod's addresses. Flag misuse stops the driver at start.
 */
import { X509Certificate } from "node:crypto"
import * as grpc from "@grpc/grpc-js"
import { afterEach, describe, expect, it } from "vitest"
import { canMount, runDriverBinary, whyNoMounts } from "../support/driver-process.js"
import type { Pod } from "../support/kubelet.js"
import { type Harness, newPod, seedAttributes, sleep, startHarness, until } from "./support.js"

const endpoint = ["--node-id", "n1", "--endpoint", "unix:///tmp/gates-e2e.sock"]

describe("gate flags", () => {
  it("--pod-readiness-gate without --continue-on-not-ready stops the driver at start, naming both", async () => {
    const result = await runDriverBinary([...endpoint, "--pod-readiness-gate", "pod-ip:any"])
    expect(result.code).not.toBe(0)
    expect(result.stdout + result.stderr).toContain("--pod-readiness-gate needs --continue-on-not-ready")
  })

  it.each([
    ["--pod-readiness-gate=pod-ip:dualstack", 'invalid --pod-readiness-gate "pod-ip:dualstack"'],
    ["--pod-readiness-gate=pod-label:x", 'unknown type "pod-label"'],
    ["--gate-backoff-cap=-1s", "--gate-backoff-cap must be a positive Go duration"],
    ["--gate-backoff-factor=fast", "--gate-backoff-factor must be 0 or a number of at least 1"],
    ["--gate-backoff-factor=0.5", "--gate-backoff-factor must be 0 or a number of at least 1"],
  ])("%s stops the driver at start, saying what is valid", async (flag, message) => {
    const result = await runDriverBinary([...endpoint, "--continue-on-not-ready", flag])
    expect(result.code).not.toBe(0)
    expect(result.stdout + result.stderr).toContain(message)
  })
})

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

const requestsOf = async (harness: Harness, pod: Pod) =>
  (await harness.sandbox.listCertificateRequests(pod.namespace)).filter((cr) =>
    JSON.stringify(cr.metadata.ownerReferences ?? []).includes(pod.uid),
  )

const certificateOf = (harness: Harness, targetPath: string) =>
  until("the certificate in the mounted volume", async () => {
    const pem = await harness.kubelet.readFile(targetPath, "tls.crt").catch(() => undefined)
    return pem === undefined ? undefined : new X509Certificate(pem)
  })

const gateEventsOf = async (harness: Harness, pod: Pod) =>
  (await harness.sandbox.listObjects("events", pod.namespace)).filter(
    (e) => e.reason === "WaitingForReadinessGates" && JSON.stringify(e.involvedObject).includes(pod.uid),
  )

describe.skipIf(!canMount)("--pod-readiness-gate", () => {
  it("no CertificateRequest until every gate passes; the pod change that opens them starts issuance within a second", async () => {
    h = await startHarness({
      args: [
        "--continue-on-not-ready",
        "--pod-readiness-gate=pod-condition:example.com/network-ready",
        "--pod-readiness-gate=pod-annotation:example.com/attached",
      ],
    })
    const pod = await newPod(h)
    const started = Date.now()
    const published = await h.kubelet.publish(pod, seedAttributes)
    expect(published.result.details).toBe("")
    expect(Date.now() - started).toBeLessThan(1_500)
    expect(h.namespace.mounts()).toContain(published.targetPath)

    // Longer than several backoff steps (1 s, 2 s, …): still nothing requested.
    await sleep(3_500)
    expect(await requestsOf(h, pod)).toHaveLength(0)
    const events = await gateEventsOf(h, pod)
    expect(events).toHaveLength(1)
    expect(events[0]?.message).toContain("pod-condition:example.com/network-ready=True")
    expect(events[0]?.message).toContain("pod-annotation:example.com/attached")

    // One gate of two: still nothing.
    await h.sandbox.updatePod(pod.namespace, pod.name, {
      conditions: [{ type: "example.com/network-ready", status: "True" }],
    })
    await sleep(1_500)
    expect(await requestsOf(h, pod)).toHaveLength(0)

    await h.sandbox.updatePod(pod.namespace, pod.name, { annotations: { "example.com/attached": "eth1" } })
    const request = await until("the CertificateRequest", async () => (await requestsOf(h!, pod))[0])
    expect(request.ms).toBeLessThan(1_000)
    const certificate = await certificateOf(h, published.targetPath)
    expect(certificate.value.subjectAltName).toContain(`DNS:${pod.name}.sandbox.svc.cluster.local`)
  })
})

describe.skipIf(!canMount)("${POD_IP} and ${POD_IPS}", () => {
  it("a volume mounts before the pod has an IP, and the certificate with its addresses arrives after", async () => {
    h = await startHarness({ args: ["--continue-on-not-ready"] })
    const pod = await newPod(h)
    const published = await h.kubelet.publish(pod, {
      ...seedAttributes,
      "csi.cert-manager.io/key-algorithm": "ECDSA",
      "csi.cert-manager.io/ip-sans": "${POD_IPS}",
    })
    expect(published.result.details).toBe("")
    expect(h.namespace.mounts()).toContain(published.targetPath)
    await sleep(2_000)
    expect(await requestsOf(h, pod)).toHaveLength(0)
    expect((await gateEventsOf(h, pod))[0]?.message).toContain("pod-ip:any (the pod has no IP address yet)")

    await h.sandbox.updatePod(pod.namespace, pod.name, { ips: ["10.244.1.7", "fd00:10:244:1::7"] })
    const request = await until("the CertificateRequest", async () => (await requestsOf(h!, pod))[0])
    expect(request.ms).toBeLessThan(1_000)
    const certificate = await certificateOf(h, published.targetPath)
    expect(certificate.value.subjectAltName).toContain("IP Address:10.244.1.7")
    expect(certificate.value.subjectAltName).toContain("IP Address:FD00:10:244:1:0:0:0:7")
  })

  it("without --continue-on-not-ready, publish answers INVALID_ARGUMENT and creates nothing", async () => {
    h = await startHarness()
    const pod = await newPod(h)
    await h.sandbox.updatePod(pod.namespace, pod.name, { ips: ["10.244.1.8"] })
    const published = await h.kubelet.publish(pod, {
      ...seedAttributes,
      "csi.cert-manager.io/ip-sans": "${POD_IP}",
    })
    expect(published.result.code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(published.result.details).toContain("csi.cert-manager.io/ip-sans: uses ${POD_IP} or ${POD_IPS}")
    expect(published.result.details).toContain("--continue-on-not-ready")
    expect(h.namespace.mounts()).not.toContain(published.targetPath)
    expect(await requestsOf(h, pod)).toHaveLength(0)
  })
})

if (!canMount) console.warn(whyNoMounts)

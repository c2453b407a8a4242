/**
 * Bad input against the built driver, as a hostile caller would send it: malformed
 * service-account tokens, a token the API server refuses, a pod whose identity may
 * not create requests, and a list of 10,000 bad DNS names. Each is answered with the
 * code its meaning asks for, in a message of at most 2 KiB that never holds a token,
 * and leaves nothing behind.
 */
import { randomUUID } from "node:crypto"
import * as grpc from "@grpc/grpc-js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { canMount } from "../support/driver-process.js"
import type { Pod } from "../support/kubelet.js"
import { type Harness, newPod as newPodIn, seedAttributes, startHarness } from "./support.js"

const tokensKey = "csi.storage.k8s.io/serviceAccount.tokens"
const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString()

describe.skipIf(!canMount)("bad input, with --use-token-request", () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness({ args: ["--use-token-request"] })
  })
  afterAll(async () => {
    await h?.close()
  })

  const newPod = (serviceAccountName = "app"): Promise<Pod> => newPodIn(h, { serviceAccountName })

  const requestsOf = async (pod: Pod) =>
    (await h.sandbox.listCertificateRequests(pod.namespace)).filter((cr) =>
      JSON.stringify(cr.metadata.ownerReferences ?? []).includes(pod.uid),
    )

  const expectNothingLeft = async (pod: Pod, targetPath: string) => {
    expect(await requestsOf(pod)).toHaveLength(0)
    expect(h.namespace.mounts()).not.toContain(targetPath)
  }

  it.each([
    ["not JSON", "s3cret-not-json"],
    ["an empty token", JSON.stringify({ "": { token: "", expirationTimestamp: inAnHour() } })],
    ["a bad expiry", JSON.stringify({ "": { token: "s3cret-token", expirationTimestamp: "next tuesday" } })],
    ["the wrong shape", JSON.stringify({ "": ["s3cret-token"] })],
    [
      "no API server audience",
      JSON.stringify({ vault: { token: "s3cret-token", expirationTimestamp: inAnHour() } }),
    ],
  ])("malformed tokens (%s) are INVALID_ARGUMENT naming the key, never the token", async (_name, tokens) => {
    const pod = await newPod()
    const { result, targetPath } = await h.kubelet.publish(pod, seedAttributes, {
      extraContext: { [tokensKey]: tokens },
    })
    expect(grpc.status[result.code]).toBe("INVALID_ARGUMENT")
    expect(result.details).toContain(tokensKey)
    expect(result.details).not.toContain("s3cret")
    expect(h.driver.logs()).not.toContain("s3cret")
    await expectNothingLeft(pod, targetPath)
  })

  it("a pod token the API server refuses (401) is UNAUTHENTICATED, naming the request", async () => {
    const pod = await newPod()
    const token = `eyJhbGciOiJIUzI1NiJ9.${randomUUID()}.unknown-to-the-api-server`
    const { result, targetPath } = await h.kubelet.publish(pod, seedAttributes, {
      tokens: { "": { token, expirationTimestamp: inAnHour() } },
    })
    expect(grpc.status[result.code]).toBe("UNAUTHENTICATED")
    expect(result.details).toMatch(/Kubernetes API create CertificateRequest sandbox\/[0-9a-f-]+: HTTP 401/)
    expect(result.details).not.toContain(token)
    expect(h.driver.logs()).not.toContain(token)
    await expectNothingLeft(pod, targetPath)
  })

  it("a pod whose service account may not create requests (403) is PERMISSION_DENIED", async () => {
    const pod = await newPod("no-rbac")
    await h.sandbox.setFaults({ forbiddenUsers: ["system:serviceaccount:sandbox:no-rbac"] })
    try {
      const token = h.sandbox.serviceAccountToken("sandbox", "no-rbac")
      const { result, targetPath } = await h.kubelet.publish(pod, seedAttributes, {
        tokens: { "": { token, expirationTimestamp: inAnHour() } },
      })
      expect(grpc.status[result.code]).toBe("PERMISSION_DENIED")
      expect(result.details).toContain('cannot create resource "certificaterequests"')
      await expectNothingLeft(pod, targetPath)
    } finally {
      await h.sandbox.setFaults({ forbiddenUsers: [] })
    }
  })

  it("10,000 bad DNS names: INVALID_ARGUMENT in at most 2 KiB, the first three and how many more", async () => {
    const pod = await newPod()
    const names = Array.from({ length: 10_000 }, (_, i) => `bad_name!${i}.example.com`).join(",")
    const token = h.sandbox.serviceAccountToken("sandbox", "app")
    const { result, targetPath } = await h.kubelet.publish(
      pod,
      { ...seedAttributes, "csi.cert-manager.io/dns-names": names },
      { tokens: { "": { token, expirationTimestamp: inAnHour() } } },
    )
    expect(grpc.status[result.code]).toBe("INVALID_ARGUMENT")
    expect(Buffer.byteLength(result.details)).toBeLessThanOrEqual(2048)
    expect(result.details).toContain(
      'csi.cert-manager.io/dns-names: "bad_name!0.example.com", "bad_name!1.example.com", "bad_name!2.example.com" and 9,997 more are not DNS names',
    )
    await expectNothingLeft(pod, targetPath)
    // The driver is still there and serves the next caller.
    const next = await newPod()
    const published = await h.kubelet.publish(next, seedAttributes, {
      tokens: {
        "": { token: h.sandbox.serviceAccountToken("sandbox", "app"), expirationTimestamp: inAnHour() },
      },
    })
    expect(published.result.details).toBe("")
  })
})

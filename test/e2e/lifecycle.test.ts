/**
 * The lifecycle end to end: renewal in place, restarts (graceful and kill -9),
 * token request, continue-on-not-ready and PKCS#12 keystores, on the built driver
 * with real mounts and the sandbox issuer.
 */
import { createPublicKey, randomUUID, X509Certificate } from "node:crypto"
import * as grpc from "@grpc/grpc-js"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import { canMount, whyNoMounts } from "../support/driver-process.js"
import type { Pod } from "../support/kubelet.js"
import { hasLegacyProvider, openssl, opensslOk, tempDir } from "../support/openssl.js"
import {
  type Harness,
  keyMatches,
  newPod as newPodIn,
  readKeyPair,
  seedAttributes,
  startHarness,
} from "./support.js"

const t = tempDir()
afterAll(() => t.cleanup())

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

const start = async (args: ReadonlyArray<string> = []) => {
  h = await startHarness({ args })
  return h
}

const newPod = (harness: Harness, serviceAccountName = "default"): Promise<Pod> =>
  newPodIn(harness, { serviceAccountName })

const requestsOf = async (harness: Harness, pod: Pod) =>
  (await harness.sandbox.listCertificateRequests(pod.namespace)).filter((cr) =>
    JSON.stringify(cr.metadata.ownerReferences ?? []).includes(pod.uid),
  )

/** Key and certificate as the pod reads them. */
const readPair = (harness: Harness, targetPath: string) => readKeyPair(harness.kubelet.viewOf(targetPath))

const matches = keyMatches

const until = async <A>(
  what: string,
  probe: () => Promise<A | undefined>,
  timeoutMs = 30_000,
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = await probe()
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe.skipIf(!canMount)("renewal", () => {
  it("renews a short-lived certificate in place; readers never see a key that does not match", async () => {
    const harness = await start()
    const shortLived = {
      ...seedAttributes,
      "csi.cert-manager.io/key-algorithm": "ECDSA",
      "csi.cert-manager.io/duration": "40s",
      "csi.cert-manager.io/renew-before": "32s",
      "csi.cert-manager.io/pkcs12-enable": "true",
      "csi.cert-manager.io/pkcs12-password": "changeit",
      "csi.cert-manager.io/pkcs12-profile": "Modern2023",
    }
    const fresh = await harness.kubelet.publish(await newPod(harness), shortLived)
    const reused = await harness.kubelet.publish(await newPod(harness), {
      ...shortLived,
      "csi.cert-manager.io/reuse-private-key": "true",
    })
    expect([fresh.result.details, reused.result.details]).toEqual(["", ""])
    const before = await readPair(harness, fresh.targetPath)
    const beforeReused = await readPair(harness, reused.targetPath)
    const p12Before = await harness.kubelet.readFile(fresh.targetPath, "keystore.p12")

    let reads = 0
    let mismatches = 0
    let reading = true
    const reader = (async () => {
      while (reading) {
        const pair = await readPair(harness, fresh.targetPath)
        reads += 1
        if (!matches(pair)) mismatches += 1
      }
    })()
    const after = await until("the renewal", async () => {
      const pair = await readPair(harness, fresh.targetPath)
      return pair.cert !== before.cert ? pair : undefined
    })
    reading = false
    await reader
    expect(reads).toBeGreaterThan(10)
    expect(mismatches).toBe(0)
    expect(matches(after)).toBe(true)
    expect(after.key).not.toBe(before.key)
    expect(new X509Certificate(after.cert).serialNumber).not.toBe(
      new X509Certificate(before.cert).serialNumber,
    )
    // The keystore is rewritten in the same swap.
    const p12After = await harness.kubelet.readFile(fresh.targetPath, "keystore.p12")
    expect(Buffer.compare(p12After, p12Before)).not.toBe(0)

    const afterReused = await until("the renewal with reuse-private-key", async () => {
      const pair = await readPair(harness, reused.targetPath)
      return pair.cert !== beforeReused.cert ? pair : undefined
    })
    expect(afterReused.key).toBe(beforeReused.key)
    // Each renewal replaced its request: one live request per volume again once the
    // stale one is deleted (just after the new files are swapped in).
    const live = await until("the stale requests' deletion", async () => {
      const count = (await harness.sandbox.listCertificateRequests("sandbox")).length
      return count === 2 ? count : undefined
    })
    expect(live).toBe(2)
  }, 60_000)
})

describe.skipIf(!canMount)("restarts", () => {
  it("kill -9 during issuance, then restart: the volume gets its certificate with no extra request", async () => {
    const harness = await start()
    const pod = await newPod(harness)
    const attributes = { ...seedAttributes, "csi.cert-manager.io/issuer-name": "restart-issuer" }
    const first = await harness.kubelet.publish(pod, attributes, { deadlineMs: 2_000 })
    expect(first.result.code).toBe(grpc.status.DEADLINE_EXCEEDED)
    expect(await requestsOf(harness, pod)).toHaveLength(1)
    await harness.restart({ signal: "SIGKILL" })
    await harness.sandbox.setIssuerBehaviour("restart-issuer", { _tag: "Sign" })
    const retry = await harness.kubelet.publish(pod, attributes)
    expect(retry.result.details).toBe("")
    expect(await requestsOf(harness, pod)).toHaveLength(1)
    expect(matches(await readPair(harness, retry.targetPath))).toBe(true)
  })

  it("kill -9 during issuance, signed while the driver is down: the restarted driver reads the answer it missed", async () => {
    const harness = await start()
    const pod = await newPod(harness)
    const attributes = { ...seedAttributes, "csi.cert-manager.io/issuer-name": "restart-issuer" }
    const first = await harness.kubelet.publish(pod, attributes, { deadlineMs: 2_000 })
    expect(first.result.code).toBe(grpc.status.DEADLINE_EXCEEDED)
    await harness.driver.stop("SIGKILL")
    await harness.sandbox.setIssuerBehaviour("restart-issuer", { _tag: "Sign" })
    const signed = await until("the request signed", async () => {
      const [request] = await requestsOf(harness, pod)
      const status = request?.status as { certificate?: string } | undefined
      return (status?.certificate ?? "") === "" ? undefined : request
    })
    // The driver's cache keeps no certificate bytes: it lists the answered request without them,
    // and the resumed issuance reads the request itself for its answer.
    await harness.restart()
    const retry = await harness.kubelet.publish(pod, attributes)
    expect(retry.result.details).toBe("")
    // The same request, not a new one after the first was judged unusable.
    expect((await requestsOf(harness, pod)).map((request) => request.metadata.name)).toEqual([
      signed.metadata.name,
    ])
    expect(matches(await readPair(harness, retry.targetPath))).toBe(true)
  })

  it("SIGTERM leaves volumes, mounts and requests in place; a restart reschedules all 50 renewals", async () => {
    const harness = await start()
    const pods = await Promise.all(Array.from({ length: 50 }, () => newPod(harness)))
    const published = await Promise.all(
      pods.map((pod) =>
        harness.kubelet.publish(pod, { ...seedAttributes, "csi.cert-manager.io/key-algorithm": "ECDSA" }),
      ),
    )
    expect(published.every((p) => p.result.ok)).toBe(true)
    const writes = (await harness.sandbox.stats()).writes
    expect(await harness.driver.stop("SIGTERM")).toBe(0)
    const mounts = harness.namespace.mounts()
    for (const p of published) expect(mounts).toContain(p.targetPath)
    expect((await harness.sandbox.listCertificateRequests("sandbox")).length).toBe(50)
    await harness.restart()
    const recovered = await until("recovery", async () => {
      const line = harness.driver
        .logs()
        .split("\n")
        .find((l) => l.includes('"recovered volumes"'))
      return line === undefined ? undefined : (JSON.parse(line) as { annotations: { volumes: number } })
    })
    expect(recovered.annotations.volumes).toBe(50)
    // Nothing was re-issued: recovery costs no API writes.
    expect((await harness.sandbox.stats()).writes).toBe(writes)
    // A republish after the restart answers at once from what is on disk.
    const again = await harness.kubelet.publish(pods[0]!, {
      ...seedAttributes,
      "csi.cert-manager.io/key-algorithm": "ECDSA",
    })
    expect(again.result.ok).toBe(true)
    expect((await harness.sandbox.stats()).writes).toBe(writes)
  })
})

describe.skipIf(!canMount)("--use-token-request", () => {
  it("creates the request as the pod's service account; republish only refreshes the token", async () => {
    const harness = await start(["--use-token-request"])
    const pod = await newPod(harness, "app-sa")
    const missing = await harness.kubelet.publish(pod, seedAttributes)
    expect(missing.result.code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(missing.result.details).toContain("tokenRequests")
    const tokens = (token: string) => ({
      "": { token, expirationTimestamp: new Date(Date.now() + 3_600_000).toISOString() },
    })
    const token = harness.sandbox.serviceAccountToken("sandbox", "app-sa")
    const published = await harness.kubelet.publish(pod, seedAttributes, {
      tokens: tokens(token),
      tokensIn: "secrets",
    })
    expect(published.result.details).toBe("")
    const [request] = await requestsOf(harness, pod)
    expect(request?.spec).toMatchObject({ username: "system:serviceaccount:sandbox:app-sa" })
    const stats = await harness.sandbox.stats()
    const refreshed = harness.sandbox.serviceAccountToken("sandbox", "app-sa")
    const republished = await harness.kubelet.publish(pod, seedAttributes, { tokens: tokens(refreshed) })
    expect(republished.result.ok).toBe(true)
    expect((await harness.sandbox.stats()).requestsTotal).toBe(stats.requestsTotal)
    expect(harness.driver.logs()).not.toContain(token)
    expect(harness.driver.logs()).not.toContain(refreshed)
  })
})

describe.skipIf(!canMount)("--continue-on-not-ready", () => {
  it("mounts at once and the files appear when issuance completes", async () => {
    const harness = await start(["--continue-on-not-ready"])
    await harness.sandbox.setIssuerBehaviour("slow-issuer", { _tag: "Sign", delay: "2 seconds" })
    const pod = await newPod(harness)
    const started = Date.now()
    const published = await harness.kubelet.publish(pod, {
      ...seedAttributes,
      "csi.cert-manager.io/issuer-name": "slow-issuer",
    })
    expect(published.result.details).toBe("")
    expect(Date.now() - started).toBeLessThan(1_500)
    expect(harness.namespace.mounts()).toContain(published.targetPath)
    await expect(harness.kubelet.readFile(published.targetPath, "tls.crt")).rejects.toThrow()
    const cert = await until("the certificate", () =>
      harness.kubelet.readFile(published.targetPath, "tls.crt").then(
        (data) => data.toString(),
        () => undefined,
      ),
    )
    expect(cert).toContain("BEGIN CERTIFICATE")
  })
})

describe.skipIf(!canMount)("PKCS#12", () => {
  it.each(["LegacyRC2", "LegacyDES", "Modern2023"])(
    "%s opens with the password and holds key and chain",
    async (profile) => {
      if (profile === "LegacyRC2" && !hasLegacyProvider()) return
      const harness = h ?? (await start())
      const pod = await newPod(harness)
      const published = await harness.kubelet.publish(pod, {
        ...seedAttributes,
        "csi.cert-manager.io/key-algorithm": "ECDSA",
        "csi.cert-manager.io/pkcs12-enable": "true",
        "csi.cert-manager.io/pkcs12-filename": "tls.p12",
        "csi.cert-manager.io/pkcs12-password": "s3cret-pass",
        "csi.cert-manager.io/pkcs12-profile": profile,
      })
      expect(published.result.details).toBe("")
      const p12 = t.file(
        `${randomUUID()}.p12`,
        await harness.kubelet.readFile(published.targetPath, "tls.p12"),
      )
      const legacy = profile === "LegacyRC2" ? ["-legacy"] : []
      opensslOk(["pkcs12", ...legacy, "-in", p12, "-info", "-noout", "-passin", "pass:s3cret-pass"])
      expect(
        openssl(["pkcs12", ...legacy, "-in", p12, "-info", "-noout", "-passin", "pass:wrong"]).status,
      ).not.toBe(0)
      const certs = opensslOk(["pkcs12", ...legacy, "-in", p12, "-nokeys", "-passin", "pass:s3cret-pass"])
      expect(certs.match(/BEGIN CERTIFICATE/g)).toHaveLength(2)
      const key = opensslOk([
        "pkcs12",
        ...legacy,
        "-in",
        p12,
        "-nocerts",
        "-nodes",
        "-passin",
        "pass:s3cret-pass",
      ])
      const pair = await readPair(harness, published.targetPath)
      expect(
        createPublicKey(key.slice(key.indexOf("-----BEGIN"))).export({ type: "spki", format: "pem" }),
      ).toBe(createPublicKey(pair.key).export({ type: "spki", format: "pem" }))
      expect(certs).toContain(pair.cert.trim().split("\n")[1])
      expect(harness.driver.logs()).not.toContain("s3cret-pass")
    },
  )
})
if (!canMount) console.warn(whyNoMounts)

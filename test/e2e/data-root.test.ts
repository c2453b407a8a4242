/**
 * A replaced data root never strands a running pod, end to end, the way it happens on a
 * node: a container's own bind of the target taken right after publish (the "view"), the
 * driver killed, its tmpfs lazily unmounted, the driver restarted on a new empty tmpfs,
 * kubelet's republish, and the renewal read through the view. Then a restart that keeps
 * the new tmpfs (which now holds a bind of the old one), another renewal through the view,
 * and the unpublish that takes every bind of the old tmpfs down.
 */
import { createPublicKey, randomUUID, X509Certificate } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { canMount, nodeId, whyNoMounts } from "../support/driver-process.js"
import type { Pod } from "../support/kubelet.js"
import { type Harness, seedAttributes, startHarness } from "./support.js"

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const until = async <A>(what: string, probe: () => Promise<A | undefined>, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = await probe()
    if (value !== undefined) return value
    await sleep(100)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Renewed every ~4 s: 16 s before the end of a 20 s certificate. */
const shortLived = {
  ...seedAttributes,
  "csi.cert-manager.io/key-algorithm": "ECDSA",
  "csi.cert-manager.io/duration": "20s",
  "csi.cert-manager.io/renew-before": "16s",
  "csi.cert-manager.io/pkcs12-enable": "true",
  "csi.cert-manager.io/pkcs12-password": "changeit",
  "csi.cert-manager.io/pkcs12-profile": "Modern2023",
}

/** Key and certificate as the container reads them: through one resolution of ..data in its view. */
const readView = async (harness: Harness, view: string) => {
  const dir = harness.namespace.view(view)
  const data = path.join(dir, await fs.readlink(path.join(dir, "..data")))
  const [cert, key] = await Promise.all([
    fs.readFile(path.join(data, "tls.crt"), "utf8"),
    fs.readFile(path.join(data, "tls.key"), "utf8"),
  ])
  return { cert, key }
}

const matches = (pair: { cert: string; key: string }) =>
  new X509Certificate(pair.cert).publicKey
    .export({ type: "spki", format: "der" })
    .equals(createPublicKey(pair.key).export({ type: "spki", format: "der" }))

/** The mountinfo lines whose mount point is `at`. */
const mountsAt = (harness: Harness, at: string) =>
  harness.namespace
    .mounts()
    .split("\n")
    .filter((line) => line.split(" ")[4] === at)

const renewedFrom = (harness: Harness, view: string, before: string) =>
  until("a renewal seen through the container's view", async () => {
    const pair = await readView(harness, view).catch(() => undefined)
    return pair !== undefined && pair.cert !== before ? pair : undefined
  })

/**
 * With token requests kubelet republishes every volume periodically (requiresRepublish);
 * without, it republishes them after its own restart: the same publish either way.
 */
describe.skipIf(!canMount).for([
  ["with --use-token-request", true],
  ["without token requests", false],
] as const)("the data root replaced under a running pod, %s", ([, useTokens]) => {
  it("a republish takes the earlier tmpfs back: renewals reach the container's view, across restarts, until unpublish", async () => {
    h = await startHarness({ args: useTokens ? ["--use-token-request"] : [] })
    const name = `app-${randomUUID().slice(0, 8)}`
    const registered = await h.sandbox.registerPod({
      namespace: "sandbox",
      name,
      nodeName: nodeId,
      serviceAccountName: "app-sa",
    })
    const pod: Pod = {
      name,
      namespace: "sandbox",
      uid: String(registered.metadata.uid),
      serviceAccountName: "app-sa",
    }
    const options = () =>
      useTokens
        ? {
            tokens: {
              "": {
                token: h!.sandbox.serviceAccountToken("sandbox", "app-sa"),
                expirationTimestamp: new Date(Date.now() + 3_600_000).toISOString(),
              },
            },
          }
        : {}
    const published = await h.kubelet.publish(pod, shortLived, options())
    expect(published.result.details).toBe("")
    const { volumeId, targetPath } = published
    const dataDir = path.join(h.driver.dataRoot, volumeId, "data")

    // The container starts: its runtime binds the target into the container, once.
    const view = path.join(h.driver.dir, "container-view")
    await fs.mkdir(view)
    h.namespace.exec([...h.namespace.prefix(), "mount", "--bind", targetPath, view])
    const first = await readView(h, view)
    expect(matches(first)).toBe(true)

    // The driver dies and its tmpfs goes (lazily: the pod's binds keep the old one alive).
    await h.driver.stop("SIGKILL")
    h.namespace.exec([...h.namespace.prefix(), "umount", "-l", h.driver.dataRoot])
    await h.restart()
    expect(mountsAt(h, h.driver.dataRoot)).toHaveLength(1)

    // Kubelet republishes: answered at once, nothing mounted on the target.
    const started = Date.now()
    const republished = await h.kubelet.publish(pod, shortLived, options())
    expect(republished.result.details).toBe("")
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(mountsAt(h, targetPath)).toHaveLength(1)
    const adopted = mountsAt(h, dataDir)
    expect(adopted).toHaveLength(1)
    // Writable, and the earlier tmpfs: the same filesystem (major:minor) as the target's bind.
    expect(adopted[0]?.split(" ")[5]?.split(",")).toContain("rw")
    expect(adopted[0]?.split(" ")[2]).toBe(mountsAt(h, targetPath)[0]?.split(" ")[2])
    expect(h.driver.logs()).toContain("took the volume's files back from an earlier data root")

    const second = await renewedFrom(h, view, first.cert)
    expect(matches(second)).toBe(true)
    expect(second.key).not.toBe(first.key)

    // A restart on the new tmpfs (which holds the bind of the old one): renewals go on into the view.
    await h.restart({ signal: "SIGKILL" })
    const again = await h.kubelet.publish(pod, shortLived, options())
    expect(again.result.details).toBe("")
    expect(mountsAt(h, targetPath)).toHaveLength(1)
    expect(mountsAt(h, dataDir)).toHaveLength(1)
    const third = await renewedFrom(h, view, second.cert)
    expect(matches(third)).toBe(true)

    // Unpublish takes the target's bind and the data directory's bind of the old tmpfs down.
    const unpublished = await h.kubelet.unpublish(volumeId, targetPath)
    expect(unpublished.details).toBe("")
    expect(mountsAt(h, targetPath)).toHaveLength(0)
    expect(mountsAt(h, dataDir)).toHaveLength(0)
    await expect(fs.stat(h.namespace.view(path.dirname(dataDir)))).rejects.toThrow()
    // Only the container's view is left of the old tmpfs; it goes with the container.
    const rootShown = `/${volumeId}/data`
    expect(
      h.namespace
        .mounts()
        .split("\n")
        .filter((line) => line.split(" ")[3] === rootShown)
        .map((line) => line.split(" ")[4]),
    ).toEqual([view])
    expect(h.driver.logs()).not.toContain("changeit")
  }, 90_000)
})

if (!canMount) console.warn(whyNoMounts)

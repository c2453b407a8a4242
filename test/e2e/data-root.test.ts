/**
 * A replaced data root never strands a running pod, end to end, the way it happens on a
 * node: a container's own bind of the target taken right after publish (the "view"), the
 * driver killed, its tmpfs lazily unmounted, the driver restarted on a new empty tmpfs,
 * kubelet's republish, and the renewal read through the view. Then a restart that keeps
 * the new tmpfs (which now holds a bind of the old one), another renewal through the view,
 * and the unpublish that takes every bind of the old tmpfs down.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { canMount, whyNoMounts } from "../support/driver-process.js"
import { type Harness, keyMatches, newPod, readKeyPair, shortLived, startHarness, until } from "./support.js"

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

const keystore = {
  ...shortLived,
  "csi.cert-manager.io/pkcs12-enable": "true",
  "csi.cert-manager.io/pkcs12-password": "changeit",
  "csi.cert-manager.io/pkcs12-profile": "Modern2023",
}

/** Key and certificate as the container reads them, in its view. */
const readView = (harness: Harness, view: string) => readKeyPair(harness.namespace.view(view))

/** The mountinfo lines whose mount point is `at`. */
const mountsAt = (harness: Harness, at: string) =>
  harness.namespace
    .mounts()
    .split("\n")
    .filter((line) => line.split(" ")[4] === at)

const renewedFrom = async (harness: Harness, view: string, before: string) => {
  const renewed = await until(
    "a renewal seen through the container's view",
    async () => {
      const pair = await readView(harness, view).catch(() => undefined)
      return pair !== undefined && pair.cert !== before ? pair : undefined
    },
    30_000,
  )
  return renewed.value
}

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
    const pod = await newPod(h, { serviceAccountName: "app-sa" })
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
    const published = await h.kubelet.publish(pod, keystore, options())
    expect(published.result.details).toBe("")
    const { volumeId, targetPath } = published
    const dataDir = path.join(h.driver.dataRoot, volumeId, "data")

    // The container starts: its runtime binds the target into the container, once.
    const view = path.join(h.driver.dir, "container-view")
    await fs.mkdir(view)
    h.namespace.exec([...h.namespace.prefix(), "mount", "--bind", targetPath, view])
    const first = await readView(h, view)
    expect(keyMatches(first)).toBe(true)

    // The driver dies and its tmpfs goes (lazily: the pod's binds keep the old one alive).
    await h.driver.stop("SIGKILL")
    h.namespace.exec([...h.namespace.prefix(), "umount", "-l", h.driver.dataRoot])
    await h.restart()
    expect(mountsAt(h, h.driver.dataRoot)).toHaveLength(1)

    // Kubelet republishes: answered at once, nothing mounted on the target.
    const started = Date.now()
    const republished = await h.kubelet.publish(pod, keystore, options())
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
    expect(keyMatches(second)).toBe(true)
    expect(second.key).not.toBe(first.key)

    // A restart on the new tmpfs (which holds the bind of the old one): renewals go on into the view.
    await h.restart({ signal: "SIGKILL" })
    const again = await h.kubelet.publish(pod, keystore, options())
    expect(again.result.details).toBe("")
    expect(mountsAt(h, targetPath)).toHaveLength(1)
    expect(mountsAt(h, dataDir)).toHaveLength(1)
    const third = await renewedFrom(h, view, second.cert)
    expect(keyMatches(third)).toBe(true)

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

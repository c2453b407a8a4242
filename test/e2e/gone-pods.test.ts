/**
 * Gone pods end to end, on the built driver with real mounts and the sandbox's pods: a
 * pod deleted while its volume lives (upstream csi-lib #8) has its CertificateRequests
 * deleted within a second and gets no renewal after, while its files and mount stay
 * until kubelet's unpublish; the same when the pod goes while the driver is down. The
 * pods are deleted with `--cascade=orphan` so their requests outlive them in the API and
 * only the driver can delete them (the garbage collector would otherwise hide it).
 */
import { afterEach, describe, expect, it } from "vitest"
import { hashIdentifier, volumeIdHashLabel } from "../../src/kube/labels.js"
import { canMount, whyNoMounts } from "../support/driver-process.js"
import { type Harness, newPod, shortLived, sleep, startHarness, until } from "./support.js"

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

/** The volume's requests, by its label: an orphaned request has no owner left to find it by. */
const requestsOf = async (harness: Harness, volumeId: string) =>
  (await harness.sandbox.listCertificateRequests("sandbox")).filter(
    (cr) => cr.metadata.labels?.[volumeIdHashLabel] === hashIdentifier(volumeId),
  )

const isMounted = (harness: Harness, target: string) =>
  harness.namespace
    .mounts()
    .split("\n")
    .some((line) => line.split(" ")[4] === target)

describe.skipIf(!canMount)("a pod deleted while its volume lives", () => {
  it("loses its requests within a second and gets no renewal; files and mount stay until unpublish", async () => {
    h = await startHarness()
    const pod = await newPod(h)
    const published = await h.kubelet.publish(pod, shortLived)
    expect(published.result.details).toBe("")
    expect(await requestsOf(h, published.volumeId)).toHaveLength(1)
    const certificate = (await h.kubelet.readFile(published.targetPath, "tls.crt")).toString()

    await h.sandbox.deletePod(pod.namespace, pod.name, { orphanDependents: true })
    const deleted = await until("the requests' deletion", async () =>
      (await requestsOf(h!, published.volumeId)).length === 0 ? true : undefined,
    )
    expect(deleted.ms).toBeLessThan(1_000)
    const creates = (await h.sandbox.stats()).requests.certificaterequests?.create ?? 0

    // Kubelet's periodic republish of the still-mounted volume revives nothing.
    const republished = await h.kubelet.publish(pod, shortLived)
    expect(republished.result.details).toBe("")
    // Longer than the renewal period: no new request, the files as they were, still mounted.
    await sleep(6_000)
    expect((await h.sandbox.stats()).requests.certificaterequests?.create ?? 0).toBe(creates)
    expect(await requestsOf(h, published.volumeId)).toHaveLength(0)
    expect((await h.kubelet.readFile(published.targetPath, "tls.crt")).toString()).toBe(certificate)
    expect(isMounted(h, published.targetPath)).toBe(true)
    expect(h.driver.logs()).toContain("the volume's pod is gone")

    const unpublished = await h.kubelet.unpublish(published.volumeId, published.targetPath)
    expect(unpublished.details).toBe("")
    expect(isMounted(h, published.targetPath)).toBe(false)
  }, 30_000)

  it("at restart: a pod deleted while the driver was down is judged from the first list", async () => {
    h = await startHarness()
    const gone = await newPod(h)
    const staying = await newPod(h)
    const [goneVolume, stayingVolume] = await Promise.all([
      h.kubelet.publish(gone, shortLived),
      h.kubelet.publish(staying, shortLived),
    ])
    expect([goneVolume?.result.details, stayingVolume?.result.details]).toEqual(["", ""])
    const goneCertificate = (await h.kubelet.readFile(goneVolume.targetPath, "tls.crt")).toString()
    const stayingCertificate = (await h.kubelet.readFile(stayingVolume.targetPath, "tls.crt")).toString()

    expect(await h.driver.stop("SIGTERM")).toBe(0)
    await h.sandbox.deletePod(gone.namespace, gone.name, { orphanDependents: true })
    expect(await requestsOf(h, goneVolume.volumeId)).toHaveLength(1)
    await h.restart()
    const deleted = await until("the requests' deletion", async () =>
      (await requestsOf(h!, goneVolume.volumeId)).length === 0 ? true : undefined,
    )
    expect(deleted.ms).toBeLessThan(1_000)

    // Longer than the renewal period: the pod that stayed is renewed, the gone one is not.
    await sleep(6_000)
    expect(await requestsOf(h, goneVolume.volumeId)).toHaveLength(0)
    expect((await h.kubelet.readFile(goneVolume.targetPath, "tls.crt")).toString()).toBe(goneCertificate)
    expect(isMounted(h, goneVolume.targetPath)).toBe(true)
    expect((await h.kubelet.readFile(stayingVolume.targetPath, "tls.crt")).toString()).not.toBe(
      stayingCertificate,
    )
    const recovered = h.driver
      .logs()
      .split("\n")
      .find((line) => line.includes('"recovered volumes"'))
    expect(recovered).toContain('"podsGone":1')

    const unpublished = await h.kubelet.unpublish(goneVolume.volumeId, goneVolume.targetPath)
    expect(unpublished.details).toBe("")
    expect(isMounted(h, goneVolume.targetPath)).toBe(false)
  }, 40_000)
})

if (!canMount) console.warn(whyNoMounts)

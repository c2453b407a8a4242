/**
 * Hostile target paths and capabilities against the built driver, with real mounts:
 * each example of issue 12 answers INVALID_ARGUMENT naming the field, creates nothing,
 * and leaves the other volumes on the node with their files; an unpublish never takes
 * off a mount the driver did not make.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import * as grpc from "@grpc/grpc-js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type CallResult, volumeIdOf } from "../support/csi-client.js"
import { canMount, whyNoMounts } from "../support/driver-process.js"
import type { Pod, Published } from "../support/kubelet.js"
import { type Harness, newPod as newPodIn, seedAttributes, startHarness } from "./support.js"

describe.skipIf(!canMount)("target paths and capabilities", () => {
  let h: Harness
  /** Two published volumes that every bad call below must leave alone. */
  const published: Array<Published> = []

  const newPod = (): Promise<Pod> => newPodIn(h)

  beforeAll(async () => {
    h = await startHarness()
    for (let i = 0; i < 2; i++) {
      const volume = await h.kubelet.publish(await newPod(), seedAttributes)
      expect(volume.result.ok, volume.result.details).toBe(true)
      published.push(volume)
    }
  })
  afterAll(async () => {
    await h?.close()
  })

  /** Mounts in the driver's namespace at `target`. */
  const mountsAt = (target: string) =>
    h.namespace
      .mounts()
      .split("\n")
      .filter((line) => line.split(" ")[4] === target)

  const expectOthersIntact = async () => {
    expect(mountsAt(h.driver.dataRoot)).toHaveLength(1)
    for (const volume of published) {
      expect(mountsAt(volume.targetPath)).toHaveLength(1)
      expect((await h.kubelet.readFile(volume.targetPath, "tls.crt")).toString()).toContain(
        "BEGIN CERTIFICATE",
      )
    }
    const volumes = await fs.readdir(h.namespace.view(h.driver.dataRoot))
    expect(volumes.sort()).toEqual(published.map((v) => v.volumeId).sort())
  }

  const expectInvalid = (result: CallResult, ...expected: ReadonlyArray<string>) => {
    expect(grpc.status[result.code], result.details).toBe("INVALID_ARGUMENT")
    for (const text of expected) expect(result.details).toContain(text)
    expect(Buffer.byteLength(result.details)).toBeLessThanOrEqual(2048)
  }

  const unpublishAt = (target: string, volumeId = published[0]!.volumeId) =>
    h.kubelet.unpublish(volumeId, target)

  it.each([
    ["the data root", () => h.driver.dataRoot, "is the driver's data root"],
    ["/", () => "/", "must not be /"],
    ["a relative path", () => "pods/x/mount", "must be an absolute path"],
    ["a path climbing out of the working directory", () => "../x", "must be an absolute path"],
    ["a path with ..", () => `${h.driver.kubeletRoot}/pods/../../data`, "must be normalized"],
    ["a path inside the data root", () => `${h.driver.dataRoot}/${published[0]!.volumeId}/data`, "inside"],
    [
      "an ancestor of the data root",
      () => path.dirname(h.driver.dataRoot),
      "contains the driver's data root",
    ],
  ])(
    "NodeUnpublishVolume with %s is INVALID_ARGUMENT; the other volumes keep their files",
    async (_n, target, expected) => {
      expectInvalid(
        await unpublishAt(target()),
        "target_path",
        expected,
        "kubernetes.io~csi/<volume-name>/mount",
      )
      await expectOthersIntact()
    },
  )

  it("NodeUnpublishVolume through a symlinked parent into the data root is INVALID_ARGUMENT", async () => {
    const link = path.join(h.driver.kubeletRoot, "pods", "evil")
    await fs.mkdir(path.dirname(link), { recursive: true })
    await fs.symlink(h.driver.dataRoot, link)
    const target = path.join(link, published[0]!.volumeId, "data")
    expectInvalid(await unpublishAt(target), "which resolves to", "inside the driver's data root")
    await expectOthersIntact()
  })

  type Request = ReturnType<typeof h.kubelet.publishRequest>

  /** A publish of a fresh pod with `change` applied to kubelet's request; nothing may come of it. */
  const publishWith = async (
    change: (request: Request) => unknown,
    before?: (request: Request) => Promise<void>,
  ) => {
    const pod = await newPod()
    const request = h.kubelet.publishRequest(pod, seedAttributes)
    await fs.mkdir(path.dirname(request.target_path), { recursive: true })
    await before?.(request)
    const result = await h.kubelet.csi.call("node", "NodePublishVolume", change(request))
    expect(await h.sandbox.listCertificateRequests("sandbox")).toHaveLength(published.length)
    await expectOthersIntact()
    return { result, request }
  }

  it("NodePublishVolume onto a regular file is INVALID_ARGUMENT, and the file stays", async () => {
    const { result, request } = await publishWith(
      (r) => r,
      (r) => fs.writeFile(r.target_path, "not a directory"),
    )
    expectInvalid(result, "target_path", "is a regular file, not a directory")
    expect(await fs.readFile(request.target_path, "utf8")).toBe("not a directory")
  })

  it.each([
    [
      "a NUL byte in target_path",
      (r: { target_path: string }) => ({ ...r, target_path: `${r.target_path}\0x` }),
      ["target_path", "NUL"],
    ],
    [
      "a 10 KB target_path",
      (r: { target_path: string }) => ({ ...r, target_path: `/${"a".repeat(10_240)}` }),
      ["target_path", "is 10241 bytes long"],
    ],
    [
      "block access",
      (r: Record<string, unknown>) => ({
        ...r,
        volume_capability: { block: {}, access_mode: { mode: "SINGLE_NODE_WRITER" } },
      }),
      ["volume_capability", "block volumes are not supported"],
    ],
    [
      "no access type",
      (r: Record<string, unknown>) => ({
        ...r,
        volume_capability: { access_mode: { mode: "SINGLE_NODE_WRITER" } },
      }),
      ["volume_capability has no access type: it must be mount"],
    ],
    [
      "a MULTI_NODE access mode",
      (r: { volume_capability: Record<string, unknown> }) => ({
        ...r,
        volume_capability: { ...r.volume_capability, access_mode: { mode: "MULTI_NODE_MULTI_WRITER" } },
      }),
      ['"MULTI_NODE_MULTI_WRITER" is not supported', "use SINGLE_NODE_WRITER"],
    ],
  ])("NodePublishVolume with %s is INVALID_ARGUMENT, creating nothing", async (_name, change, expected) => {
    const { result, request } = await publishWith(change as (r: unknown) => unknown)
    expectInvalid(result, ...expected)
    const volumeDir = path.join(h.namespace.view(h.driver.dataRoot), request.volume_id)
    await expect(fs.access(volumeDir)).rejects.toThrow()
  })

  it("NodePublishVolume through a symlinked parent into the data root is INVALID_ARGUMENT", async () => {
    const link = path.join(h.driver.kubeletRoot, "pods", "evil-publish")
    await fs.symlink(h.driver.dataRoot, link)
    const { result } = await publishWith((r) => ({ ...r, target_path: path.join(link, "x", "mount") }))
    expectInvalid(result, "which resolves to", "inside the driver's data root")
  })

  it("publishes and unpublishes through a kubelet root that is a symlink", async () => {
    const linkedRoot = path.join(h.driver.dir, "kubelet-link")
    await fs.symlink(h.driver.kubeletRoot, linkedRoot)
    const pod = await newPod()
    const request = h.kubelet.publishRequest(pod, seedAttributes)
    const target = request.target_path.replace(h.driver.kubeletRoot, linkedRoot)
    await fs.mkdir(path.dirname(target), { recursive: true })
    const result = await h.kubelet.csi.call("node", "NodePublishVolume", { ...request, target_path: target })
    expect(result.ok, result.details).toBe(true)
    // read through the real path: the link is absolute, so /proc/<pid>/root would not follow it
    expect((await h.kubelet.readFile(request.target_path, "tls.crt")).toString()).toContain(
      "BEGIN CERTIFICATE",
    )
    expect((await h.kubelet.unpublish(request.volume_id, target)).ok).toBe(true)
    expect(mountsAt(request.target_path)).toHaveLength(0)
    await expect(fs.access(request.target_path)).rejects.toThrow()
  })

  it("NodeUnpublishVolume leaves a mount the driver did not make, answers OK and logs a warning", async () => {
    const pod = await newPod()
    const target = h.kubelet.targetPathOf(pod, "tls")
    await fs.mkdir(target, { recursive: true })
    h.namespace.exec([...h.namespace.prefix(), "mount", "-t", "tmpfs", "-o", "size=1m", "foreign", target])
    const result = await h.kubelet.unpublish(volumeIdOf(pod.uid, "tls"), target)
    expect(result.ok, result.details).toBe(true)
    expect(mountsAt(target)).toHaveLength(1)
    const warning = h.driver
      .logs()
      .split("\n")
      .find((line) => line.includes("left the target path as it is"))
    expect(warning).toContain("something else is mounted there (tmpfs from")
    expect(warning).toContain("foreign")
    // the same for another volume's target: its bind stays
    const other = published[1]!
    expect((await h.kubelet.unpublish("csi-not-this-one", other.targetPath)).ok).toBe(true)
    await expectOthersIntact()
    h.namespace.exec([...h.namespace.prefix(), "umount", target])
  })
})
if (!canMount) console.warn(whyNoMounts)

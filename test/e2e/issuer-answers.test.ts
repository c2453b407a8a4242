/**
 * The issuer's answer, end to end: the built driver against the sandbox issuers
 * that answer Ready=True with something unusable (expired, not yet valid, another
 * CA's signature, text after or between the blocks, an empty certificate, a key
 * block). Each is FAILED_PRECONDITION naming the request and the reason, an
 * IssuanceFailed event on the pod, the request deleted, no files, no mount and no
 * key under the data root. And a good chain through an intermediate, mounted.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import * as grpc from "@grpc/grpc-js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { expectedRefusals } from "../support/bad-answers.js"
import { canMount, whyNoMounts } from "../support/driver-process.js"
import type { Pod } from "../support/kubelet.js"
import { opensslOk, tempDir } from "../support/openssl.js"
import { type Harness, newPod as newPodIn, seedAttributes, startHarness } from "./support.js"

const t = tempDir()

describe.skipIf(!canMount)("issuer answers", () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(async () => {
    await h?.close()
    t.cleanup()
  })

  const newPod = (): Promise<Pod> => newPodIn(h, { name: `answer-${randomUUID().slice(0, 8)}` })

  const requestsOf = async (pod: Pod) =>
    (await h.sandbox.listCertificateRequests(pod.namespace)).filter((cr) =>
      JSON.stringify(cr.metadata.ownerReferences ?? []).includes(pod.uid),
    )

  const eventsOf = async (pod: Pod) =>
    (await h.sandbox.listObjects("events", pod.namespace)).filter(
      (e) => (e as unknown as { involvedObject: { uid: string } }).involvedObject.uid === pod.uid,
    ) as unknown as Array<{ reason: string; message: string; type: string }>

  /** Every file under the data root, as the driver sees it. */
  const filesUnder = async (dir: string): Promise<Array<string>> => {
    const entries = await fs.readdir(h.namespace.view(dir), { withFileTypes: true }).catch(() => [])
    const nested = await Promise.all(
      entries.map((e) =>
        e.isDirectory() ? filesUnder(path.join(dir, e.name)) : Promise.resolve([path.join(dir, e.name)]),
      ),
    )
    return nested.flat()
  }

  for (const [issuer, , reason] of expectedRefusals) {
    it(`${issuer}: FAILED_PRECONDITION naming the request and ${reason}; nothing left behind`, async () => {
      const pod = await newPod()
      const { result, volumeId, targetPath } = await h.kubelet.publish(pod, {
        ...seedAttributes,
        "csi.cert-manager.io/issuer-name": issuer,
      })
      expect(result.code).toBe(grpc.status.FAILED_PRECONDITION)
      const named = /CertificateRequest (sandbox\/[0-9a-f-]{36})/.exec(result.details)
      expect(named, result.details).not.toBeNull()
      expect(result.details).toContain(reason)
      expect(result.details).toContain(issuer)
      expect(result.details).not.toContain("-----")
      expect(result.details.length).toBeLessThanOrEqual(2048)

      const failed = (await eventsOf(pod)).filter((e) => e.reason === "IssuanceFailed")
      expect(failed.map((e) => [e.type, e.message])).toEqual([["Warning", result.details]])

      // The request was deleted, nothing is mounted, and the volume's directory is gone.
      expect(await requestsOf(pod)).toEqual([])
      expect(h.namespace.mounts()).not.toContain(targetPath)
      await expect(fs.access(h.namespace.view(path.join(h.driver.dataRoot, volumeId)))).rejects.toThrow()
      // Only refused answers so far: no key anywhere under the data root.
      for (const file of await filesUnder(h.driver.dataRoot)) {
        expect(await fs.readFile(h.namespace.view(file), "utf8").catch(() => "")).not.toContain("PRIVATE KEY")
      }
      expect((await h.kubelet.csi.call("identity", "Probe", {})).ok).toBe(true)
    })
  }

  it("intermediate-issuer: leaf and intermediate in tls.crt, root in ca.crt, mounted; openssl verifies", async () => {
    const pod = await newPod()
    const { result, volumeId, targetPath } = await h.kubelet.publish(pod, {
      ...seedAttributes,
      "csi.cert-manager.io/issuer-name": "intermediate-issuer",
    })
    expect(result.details).toBe("")
    const certificate = (await h.kubelet.readFile(targetPath, "tls.crt")).toString()
    const ca = (await h.kubelet.readFile(targetPath, "ca.crt")).toString()
    expect(certificate.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2)
    expect(ca).toBe(h.sandbox.caPem.endsWith("\n") ? h.sandbox.caPem : `${h.sandbox.caPem}\n`)
    const crt = t.file(`${volumeId}.crt`, certificate)
    const root = t.file(`${volumeId}-ca.crt`, ca)
    expect(opensslOk(["verify", "-CAfile", root, "-untrusted", crt, crt])).toContain("OK")
    // Without the intermediate it would not verify: the chain really goes through it.
    const leafOnly = t.file(`${volumeId}-leaf.crt`, opensslOk(["x509", "-in", crt]))
    expect(() => opensslOk(["verify", "-CAfile", root, leafOnly])).toThrow()
    expect(h.namespace.mounts()).toContain(targetPath)
    expect((await h.kubelet.unpublish(volumeId, targetPath)).ok).toBe(true)
  })
})
if (!canMount) console.warn(whyNoMounts)

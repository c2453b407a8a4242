/**
 * The CSR as cert-manager expects it, end to end on the built driver: an is-ca volume with
 * explicit key-usages passes the sandbox's webhook (which, as cert-manager's, adds cert
 * sign to spec.usages before comparing them with the CSR's) and is issued; a SANs-only
 * volume's PKCS#12 keystore opens in Java's keytool, in every profile.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { canMount, whyNoMounts } from "../support/driver-process.js"
import { hasKeytool, listKeystore, whyNoKeytool } from "../support/keytool.js"
import type { Pod } from "../support/kubelet.js"
import { opensslOk, tempDir } from "../support/openssl.js"
import { type Harness, newPod as newPodIn, seedAttributes, startHarness } from "./support.js"

const t = tempDir()

describe.skipIf(!canMount)("the CSR as cert-manager expects it", () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(async () => {
    await h?.close()
    t.cleanup()
  })

  const newPod = (): Promise<Pod> => newPodIn(h)

  it("issues an is-ca volume with explicit key-usages that leave out cert sign", async () => {
    const pod = await newPod()
    const { result, targetPath } = await h.kubelet.publish(pod, {
      ...seedAttributes,
      "csi.cert-manager.io/is-ca": "true",
      "csi.cert-manager.io/key-usages": "digital signature,server auth,server auth",
      "csi.cert-manager.io/key-algorithm": "ECDSA",
    })
    expect(result.details).toBe("")
    const cert = t.file(`${pod.name}.crt`, await h.kubelet.readFile(targetPath, "tls.crt"))
    const text = opensslOk(["x509", "-in", cert, "-noout", "-text"])
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/)
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign\n/)
    expect(text).toMatch(/Extended Key Usage: \s+TLS Web Server Authentication\n/)
    const [request] = (await h.sandbox.listCertificateRequests(pod.namespace)).filter((cr) =>
      JSON.stringify(cr.metadata.ownerReferences ?? []).includes(pod.uid),
    )
    // spec.usages as listed, once each: the webhook adds cert sign itself
    expect(request?.spec).toMatchObject({ isCA: true, usages: ["digital signature", "server auth"] })
  })

  describe.skipIf(!hasKeytool)("keytool", () => {
    it.each(["LegacyRC2", "LegacyDES", "Modern2023"])(
      "%s: a SANs-only volume's keystore opens with its password",
      async (profile) => {
        const pod = await newPod()
        const { result, targetPath } = await h.kubelet.publish(pod, {
          ...seedAttributes,
          "csi.cert-manager.io/key-algorithm": profile === "LegacyDES" ? "RSA" : "ECDSA",
          "csi.cert-manager.io/pkcs12-enable": "true",
          "csi.cert-manager.io/pkcs12-password": "s3cret-pass",
          "csi.cert-manager.io/pkcs12-profile": profile,
        })
        expect(result.details).toBe("")
        const cert = t.file(`${pod.name}.crt`, await h.kubelet.readFile(targetPath, "tls.crt"))
        // the case Java refused: no subject at all
        expect(opensslOk(["x509", "-in", cert, "-noout", "-subject"]).trim()).toBe("subject=")
        const p12 = t.file(`${pod.name}.p12`, await h.kubelet.readFile(targetPath, "keystore.p12"))
        const listed = listKeystore(p12, "s3cret-pass")
        expect(listed.output).not.toMatch(/keytool error|Exception/)
        expect(listed.status).toBe(0)
        expect(listed.output).toContain("Entry type: PrivateKeyEntry")
        expect(listed.output).toContain(`DNSName: ${pod.name}.sandbox.svc.cluster.local`)
      },
    )
  })
})
if (!canMount) console.warn(whyNoMounts)
if (!hasKeytool) console.warn(whyNoKeytool)

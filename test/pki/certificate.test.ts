import { Effect } from "effect"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { buildCsr, CertificateInvalid, checkIssued, type PrivateKey } from "../../src/pki/index.js"
import { generate, keySpec, makeCa, makeSpec, opensslOk, signCsr, tempDir } from "./support.js"

const t = tempDir()
afterAll(t.cleanup)

let ca: ReturnType<typeof makeCa>
let key: PrivateKey
let certificatePem: string

beforeAll(async () => {
  ca = makeCa(t)
  key = await generate(keySpec("RSA", 2048, "PKCS1"))
  const spec = makeSpec({
    key: key.spec,
    subject: { ...makeSpec().subject, commonName: "app.example.com", organizations: ["Acme"] },
    dnsNames: ["app.example.com"],
  })
  certificatePem = signCsr(t, ca, await Effect.runPromise(buildCsr(spec, key)), "leaf")
})

const check = (cert: string, caPem: string, k: PrivateKey = key) =>
  Effect.runPromise(Effect.result(checkIssued(cert, caPem, k)))

const expectInvalid = async (
  cert: string,
  caPem: string,
  reason: CertificateInvalid["reason"],
  k: PrivateKey = key,
) => {
  const result = await check(cert, caPem, k)
  assert.strictEqual(result._tag, "Failure")
  if (result._tag !== "Failure") return
  assert.instanceOf(result.failure, CertificateInvalid)
  assert.strictEqual(result.failure.reason, reason)
  assert.notInclude(result.failure.message, "BEGIN")
}

describe("checkIssued", () => {
  it("accepts a certificate openssl signed from our CSR, with its CA", async () => {
    const result = await check(certificatePem, ca.pem)
    assert.strictEqual(result._tag, "Success")
    if (result._tag !== "Success") return
    const issued = result.success
    assert.strictEqual(issued.certificatePem, certificatePem)
    assert.strictEqual(issued.caPem, ca.pem)
    assert.strictEqual(issued.subject, "CN=app.example.com,O=Acme")
    const serial = opensslOk(["x509", "-noout", "-serial"], certificatePem).trim().replace("serial=", "")
    assert.strictEqual(issued.serialNumber, serial)
    const endDate = opensslOk(["x509", "-noout", "-enddate"], certificatePem).trim().replace("notAfter=", "")
    assert.strictEqual(issued.notAfter.getTime(), new Date(endDate).getTime())
    assert.isBelow(issued.notBefore.getTime(), Date.now() + 1000)
    assert.strictEqual(issued.notAfter.getTime() - issued.notBefore.getTime(), 24 * 3600 * 1000)
  })

  it("keeps a chain after the leaf as given", async () => {
    const intermediate = makeCa(t, "intermediate")
    const withChain = `${certificatePem}${intermediate.pem}`
    const result = await check(withChain, ca.pem)
    assert.strictEqual(result._tag, "Success")
    if (result._tag === "Success") assert.strictEqual(result.success.certificatePem, withChain)
  })

  it("allows an empty CA from issuers that send none", async () => {
    for (const caPem of ["", "  \n"]) {
      const result = await check(certificatePem, caPem)
      assert.strictEqual(result._tag, "Success")
      if (result._tag === "Success") assert.strictEqual(result.success.caPem, "")
    }
  })

  it("rejects a certificate for another key", async () => {
    const other = await generate(keySpec("RSA", 2048, "PKCS1"))
    await expectInvalid(certificatePem, ca.pem, "PublicKeyMismatch", other)
    const ec = await generate(keySpec("ECDSA", 256, "PKCS8"))
    await expectInvalid(certificatePem, ca.pem, "PublicKeyMismatch", ec)
    // The CA's own certificate is well-formed but not ours.
    await expectInvalid(ca.pem, ca.pem, "PublicKeyMismatch")
  })

  it("rejects empty, garbage and truncated certificates", async () => {
    await expectInvalid("", ca.pem, "Empty")
    await expectInvalid("\n", ca.pem, "Empty")
    await expectInvalid("garbage", ca.pem, "Unparsable")
    await expectInvalid(certificatePem.slice(0, certificatePem.length / 2), ca.pem, "Unparsable")
    const lines = certificatePem.trim().split("\n")
    const missingMiddle = [...lines.slice(0, 3), ...lines.slice(6)].join("\n")
    await expectInvalid(missingMiddle, ca.pem, "Unparsable")
    await expectInvalid(
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      ca.pem,
      "Unparsable",
    )
    await expectInvalid(
      `${certificatePem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`,
      ca.pem,
      "Unparsable",
    )
  })

  it("rejects a CA that is not a certificate bundle", async () => {
    await expectInvalid(certificatePem, "not a ca", "CaUnparsable")
    await expectInvalid(certificatePem, ca.pem.slice(0, 100), "CaUnparsable")
    await expectInvalid(
      certificatePem,
      `${ca.pem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`,
      "CaUnparsable",
    )
  })
})

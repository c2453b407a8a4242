/**
 * buildCsr encodes and signs the CSR itself; these tests hold it to what @peculiar/x509
 * (which built our CSRs before) makes from the same subject, key and the extensions
 * cert-manager's own GenerateCSR writes for the spec, byte for byte, and to the
 * AlgorithmIdentifiers Go's x509.CreateCertificateRequest writes.
 */
import "reflect-metadata"
import * as crypto from "node:crypto"
import * as x509 from "@peculiar/x509"
import { Effect } from "effect"
import { assert, describe, it } from "vitest"
import type { CertificateSpec, KeySpec } from "../../src/attributes/spec.js"
import { buildCsr } from "../../src/pki/index.js"
import type { PrivateKey } from "../../src/pki/keys.js"
import { generate, keySpec, makeSpec, opensslOk } from "./support.js"

x509.cryptoProvider.set(crypto.webcrypto)

/** The top-level TLVs inside one DER constructed value's content. */
const children = (der: Uint8Array): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let at = 0; at < der.length; ) {
    let length = der[at + 1]!
    let header = 2
    if (length & 0x80) {
      const octets = length & 0x7f
      length = 0
      for (let i = 0; i < octets; i++) length = length * 256 + der[at + 2 + i]!
      header += octets
    }
    out.push(der.subarray(at, at + header + length))
    at += header + length
  }
  return out
}
const contentOf = (tlv: Uint8Array): Uint8Array => {
  const first = tlv[1]!
  return tlv.subarray(first & 0x80 ? 2 + (first & 0x7f) : 2)
}
const derOf = (pem: string): Uint8Array => new Uint8Array(new x509.Pkcs10CertificateRequest(pem).rawData)
const hex = (bytes: Uint8Array | ArrayBuffer) => Buffer.from(new Uint8Array(bytes)).toString("hex")

/** certificationRequestInfo, signatureAlgorithm, signature */
const parts = (pem: string) => {
  const [info, algorithm, signature] = children(contentOf(derOf(pem)))
  return { info: info!, algorithm: algorithm!, signature: signature! }
}

const sans = {
  dnsNames: ["app.example.com", "*.app.example.com"],
  ipAddresses: ["10.0.0.1", "2001:db8::1"],
  uris: ["spiffe://cluster.local/ns/default/sa/app"],
}
const sanExtension = (critical: boolean) =>
  new x509.SubjectAlternativeNameExtension(
    [
      { type: "dns", value: "app.example.com" },
      { type: "dns", value: "*.app.example.com" },
      { type: "ip", value: "10.0.0.1" },
      { type: "ip", value: "2001:db8::1" },
      { type: "url", value: "spiffe://cluster.local/ns/default/sa/app" },
    ],
    critical,
  )
const U = x509.KeyUsageFlags

/**
 * Specs, and the extensions cert-manager's GenerateCSR writes for them, made independently
 * with @peculiar/x509: SAN (critical when the subject is empty), KeyUsage (the default
 * pair when no usages are given; cert sign added for a CA), ExtendedKeyUsage,
 * BasicConstraints CA:TRUE for a CA.
 */
const cases: ReadonlyArray<{
  readonly label: string
  readonly spec: Partial<CertificateSpec>
  readonly extensions: () => Array<x509.Extension>
}> = [
  {
    label: "CA with subject, SANs and usages without cert sign",
    spec: {
      subject: { ...makeSpec().subject, commonName: "app.example.com", organizations: ["Acme"] },
      ...sans,
      usages: ["digital signature", "key encipherment", "server auth", "client auth"],
      isCA: true,
    },
    extensions: () => [
      sanExtension(false),
      new x509.KeyUsagesExtension(U.digitalSignature | U.keyEncipherment | U.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.BasicConstraintsExtension(true, undefined, true),
    ],
  },
  {
    label: "SANs only, empty subject",
    spec: { ...sans },
    extensions: () => [
      sanExtension(true),
      new x509.KeyUsagesExtension(U.digitalSignature | U.keyEncipherment, true),
    ],
  },
  {
    label: "no usages given: the default pair",
    spec: { subject: { ...makeSpec().subject, commonName: "bare" }, usages: [] },
    extensions: () => [new x509.KeyUsagesExtension(U.digitalSignature | U.keyEncipherment, true)],
  },
  {
    // as the spec.usages we send: each meaning once, "s/mime" as "email protection"
    label: "extended usages only, in order, once each",
    spec: {
      subject: { ...makeSpec().subject, commonName: "eku" },
      usages: ["client auth", "server auth", "client auth", "s/mime"],
    },
    extensions: () => [
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.clientAuth,
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.emailProtection,
      ]),
    ],
  },
]

/** The CSR as @peculiar/x509 builds it from independently made extensions, as we used to. */
const viaPeculiar = async (key: PrivateKey, subject: x509.Name, extensions: Array<x509.Extension>) => {
  const params = {
    RSA: { importAs: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, hash: "SHA-256" },
    ECDSA: {
      importAs: { name: "ECDSA", namedCurve: `P-${key.spec.size}` },
      hash: { 256: "SHA-256", 384: "SHA-384", 521: "SHA-512" }[key.spec.size],
    },
    Ed25519: { importAs: { name: "Ed25519" }, hash: undefined },
  }[key.spec.algorithm]
  const privateKey = key.keyObject.toCryptoKey(params.importAs, false, ["sign"])
  const publicKey = crypto.createPublicKey(key.keyObject).toCryptoKey(params.importAs, true, ["verify"])
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subject,
    keys: { privateKey, publicKey },
    signingAlgorithm: { name: params.importAs.name, hash: params.hash },
    extensions,
  })
  return csr.toString("pem")
}

// Go's x509 signature AlgorithmIdentifiers: RSA with NULL parameters, ECDSA and Ed25519 without.
const keyTypes: ReadonlyArray<readonly [KeySpec, string]> = [
  [keySpec("RSA", 2048, "PKCS1"), "300d06092a864886f70d01010b0500"],
  [keySpec("ECDSA", 256, "PKCS8"), "300a06082a8648ce3d040302"],
  [keySpec("ECDSA", 384, "PKCS8"), "300a06082a8648ce3d040303"],
  [keySpec("ECDSA", 521, "PKCS8"), "300a06082a8648ce3d040304"],
  [keySpec("Ed25519", 0, "PKCS8"), "300506032b6570"],
]

describe("buildCsr encoding", () => {
  for (const [kspec, algorithmHex] of keyTypes) {
    for (const c of cases) {
      const label = `${kspec.algorithm}-${kspec.size}, ${c.label}`
      it(`matches @peculiar/x509 byte for byte (${label})`, async () => {
        const key = await generate(kspec)
        const ours = await Effect.runPromise(buildCsr(makeSpec({ ...c.spec, key: kspec }), key))
        const subject = new x509.Pkcs10CertificateRequest(ours).subjectName
        const theirs = await viaPeculiar(key, subject, c.extensions())
        const a = parts(ours)
        const b = parts(theirs)
        assert.strictEqual(hex(a.info), hex(b.info))
        assert.strictEqual(hex(a.algorithm), algorithmHex)
        assert.strictEqual(hex(b.algorithm), algorithmHex)
        // RSA PKCS#1 v1.5 and Ed25519 signatures are deterministic: the whole CSR must match.
        if (kspec.algorithm !== "ECDSA") assert.strictEqual(ours, theirs)
        // The CSR carries exactly the key's SubjectPublicKeyInfo.
        const spki = crypto.createPublicKey(key.keyObject).export({ type: "spki", format: "der" })
        assert.strictEqual(hex(children(contentOf(a.info))[2]!), hex(spki))
        opensslOk(["req", "-verify", "-noout"], ours)
      })
    }
  }

  it("writes PEM with 64-character lines and no trailing newline", async () => {
    const key = await generate(keySpec("RSA", 2048, "PKCS1"))
    const pem = await Effect.runPromise(buildCsr(makeSpec({ ...cases[0]!.spec, key: key.spec }), key))
    const lines = pem.split("\n")
    assert.strictEqual(lines[0], "-----BEGIN CERTIFICATE REQUEST-----")
    assert.strictEqual(lines.at(-1), "-----END CERTIFICATE REQUEST-----")
    const body = lines.slice(1, -1)
    assert.isAbove(body.length, 2)
    for (const line of body.slice(0, -1)) assert.strictEqual(line.length, 64)
    assert.isAtMost(body.at(-1)!.length, 64)
    assert.strictEqual(Buffer.from(body.join(""), "base64").length, derOf(pem).length)
  })
})

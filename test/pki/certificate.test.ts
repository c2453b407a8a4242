/**
 * checkIssued over certificates openssl made (an independent encoder): what it
 * accepts and how it writes it back, every way an answer can be wrong, and time
 * by TestClock so validity edges are exact.
 */
import * as crypto from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
import { afterAll, beforeAll } from "vitest"
import { clockSkew, recentAnchors } from "../../src/pki/certificate.js"
import { buildCsr, CertificateInvalid, checkIssued, type PrivateKey } from "../../src/pki/index.js"
import { generate, keySpec, makeCa, makeSpec, opensslOk, signCsr, tempDir } from "./support.js"

const t = tempDir()
afterAll(t.cleanup)

type Ca = ReturnType<typeof makeCa>

/** A CA signed by `parent` (CA:TRUE unless `isCa` is false), openssl-made. */
const makeIntermediate = (parent: Ca, name: string, isCa = true): Ca => {
  const key = t.file(`${name}.key`)
  const csr = t.file(`${name}.csr`)
  const cert = t.file(`${name}.crt`)
  opensslOk(
    ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"].concat([
      "-keyout",
      key,
      "-subj",
      `/CN=${name}`,
      "-out",
      csr,
    ]),
  )
  const ext = t.file(
    `${name}.ext`,
    isCa
      ? "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
      : "basicConstraints=critical,CA:FALSE\nsubjectKeyIdentifier=hash\n",
  )
  opensslOk(
    ["x509", "-req", "-in", csr, "-CA", parent.cert, "-CAkey", parent.key, "-CAcreateserial"].concat([
      "-days",
      "1",
      "-extfile",
      ext,
      "-out",
      cert,
    ]),
  )
  return { key, cert, pem: opensslOk(["x509", "-in", cert]) }
}

let key: PrivateKey
let csrPem: string
let root: Ca
let otherRoot: Ca
/** Signed by root directly. */
let leaf: string
/** root → int1 → int2 → leafViaTwo. */
let int1: Ca
let int2: Ca
let leafViaTwo: string
let notBefore: number
let notAfter: number

beforeAll(async () => {
  key = await generate(keySpec("ECDSA", 256, "PKCS8"))
  const spec = makeSpec({
    key: key.spec,
    subject: { ...makeSpec().subject, commonName: "app.example.com", organizations: ["Acme"] },
    dnsNames: ["app.example.com"],
  })
  csrPem = await Effect.runPromise(buildCsr(spec, key))
  root = makeCa(t, "root")
  otherRoot = makeCa(t, "other-root")
  leaf = signCsr(t, root, csrPem, "leaf")
  int1 = makeIntermediate(root, "int1")
  int2 = makeIntermediate(int1, "int2")
  leafViaTwo = signCsr(t, int2, csrPem, "leaf-via-two")
  const parsed = new crypto.X509Certificate(leaf)
  notBefore = parsed.validFromDate.getTime()
  notAfter = parsed.validToDate.getTime()
})

/** TestClock starts at the epoch: put it inside the leaf's validity unless told otherwise. */
const at = (millis?: number) => TestClock.setTime(millis ?? notBefore + 60_000)

const invalid = (
  certificatePem: string,
  caPem: string,
  reason: CertificateInvalid["reason"],
  k?: PrivateKey,
) =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(checkIssued(certificatePem, caPem, k ?? key))
    assert.instanceOf(error, CertificateInvalid)
    assert.strictEqual(error.reason, reason, error.message)
    assert.notInclude(error.message, "-----")
    assert.isAtMost(error.message.length, 1100)
    return error.message
  })

const block = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`
const bodyOf = (pem: string) =>
  pem
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("-----"))
    .join("")
const derOf = (pem: string) => Buffer.from(bodyOf(pem), "base64")
const wrap = (der: Uint8Array, width = 64) =>
  block(
    "CERTIFICATE",
    (
      Buffer.from(der)
        .toString("base64")
        .match(new RegExp(`.{1,${width}}`, "g")) ?? []
    ).join("\n"),
  )

describe("checkIssued accepts", () => {
  it.effect("a certificate openssl signed from our CSR, with its CA, and reads its fields", () =>
    Effect.gen(function* () {
      yield* at()
      const issued = yield* checkIssued(leaf, root.pem, key)
      assert.strictEqual(issued.certificatePem, leaf)
      assert.strictEqual(issued.caPem, root.pem)
      assert.strictEqual(issued.subject, "CN=app.example.com,O=Acme")
      const serial = opensslOk(["x509", "-noout", "-serial"], leaf).trim().replace("serial=", "")
      assert.strictEqual(issued.serialNumber, serial)
      assert.strictEqual(issued.notBefore.getTime(), notBefore)
      assert.strictEqual(issued.notAfter.getTime(), notAfter)
      assert.strictEqual(notAfter - notBefore, 24 * 3600 * 1000)
    }),
  )

  it.effect("an empty or blank CA from issuers that send none (no chain check then)", () =>
    Effect.gen(function* () {
      yield* at()
      for (const caPem of ["", "  \n"]) {
        assert.strictEqual((yield* checkIssued(leaf, caPem, key)).caPem, "")
      }
      // Without a CA there is nothing to chain to: another CA's leaf passes.
      assert.strictEqual((yield* checkIssued(leafViaTwo, "", key)).certificatePem, leafViaTwo)
    }),
  )

  it.effect("a chain through intermediates given in any order, the root in status.ca", () =>
    Effect.gen(function* () {
      yield* at()
      for (const rest of [
        [int2.pem, int1.pem],
        [int1.pem, int2.pem],
      ]) {
        const chain = [leafViaTwo, ...rest].join("")
        const issued = yield* checkIssued(chain, root.pem, key)
        // Kept as the issuer ordered it: leaf first, the rest as given.
        assert.strictEqual(issued.certificatePem, chain)
      }
      // An intermediate may be the trust anchor itself, and the root may travel in the chain too.
      yield* checkIssued(`${leafViaTwo}${int2.pem}`, int1.pem, key)
      yield* checkIssued(`${leafViaTwo}${int2.pem}${int1.pem}${root.pem}`, root.pem, key)
      // Certificates that are not on the path are carried along (cert-manager passes them through).
      yield* checkIssued(`${leaf}${otherRoot.pem}`, root.pem, key)
    }),
  )

  it.effect("a CA bundle with several roots: any one of them anchors", () =>
    Effect.gen(function* () {
      yield* at()
      const issued = yield* checkIssued(leaf, `${otherRoot.pem}${root.pem}`, key)
      assert.strictEqual(issued.caPem, `${otherRoot.pem}${root.pem}`)
    }),
  )

  it.effect(
    "a self-signed answer whose CA is the certificate itself (cert-manager's SelfSigned issuer)",
    () =>
      Effect.gen(function* () {
        const keyFile = t.file(
          "self.key",
          (yield* Effect.sync(() => key.keyObject.export({ type: "pkcs8", format: "pem" }))).toString(),
        )
        const self = opensslOk(["req", "-x509", "-key", keyFile, "-subj", "/CN=self", "-days", "1"])
        yield* at(new crypto.X509Certificate(self).validFromDate.getTime())
        yield* checkIssued(self, self, key)
        yield* invalid(self, root.pem, "UntrustedChain")
      }),
  )

  it.effect("CRLF, indentation, blank lines and other line widths; writes back canonical PEM", () =>
    Effect.gen(function* () {
      yield* at()
      const der = derOf(leaf)
      const messy = `\r\n\n  ${wrap(der, 76).replaceAll("\n", "\r\n  ")}\n\n${wrap(derOf(root.pem), 4)}\t\n`
      const issued = yield* checkIssued(messy, `  ${root.pem}\n\n`, key)
      assert.strictEqual(issued.certificatePem, `${leaf}${root.pem}`)
      assert.strictEqual(issued.caPem, root.pem)
      for (const line of issued.certificatePem.split("\n").filter((l) => !l.startsWith("-----"))) {
        assert.isAtMost(line.length, 64)
      }
    }),
  )
})

describe("checkIssued's memory of status.ca texts", () => {
  it.effect("gives the same verdicts on a text read before, and still checks every leaf's signature", () =>
    Effect.gen(function* () {
      yield* at()
      for (let i = 0; i < 2; i++) {
        assert.strictEqual((yield* checkIssued(leaf, root.pem, key)).caPem, root.pem)
        yield* invalid(leaf, otherRoot.pem, "UntrustedChain")
      }
      assert.isTrue(recentAnchors.has(root.pem))
      // Same names as the remembered root, another key: the leaf's signature is checked anew.
      const impostor = makeCa(t, "root")
      const leafByImpostor = signCsr(t, impostor, csrPem, "leaf-by-impostor")
      yield* invalid(leafByImpostor, root.pem, "UntrustedChain")
      yield* invalid(leaf, impostor.pem, "UntrustedChain")
      // What it keeps is certificates and PEM text: no key of ours.
      assert.deepStrictEqual(Object.keys(recentAnchors.get(root.pem)?.value ?? {}).sort(), [
        "certificates",
        "normalized",
      ])
    }),
  )

  it.effect("never answers a changed text from an entry of the text it differs from", () =>
    Effect.gen(function* () {
      yield* at()
      yield* checkIssued(leaf, root.pem, key)
      assert.isTrue(recentAnchors.has(root.pem))
      // The root with another name: read anew, so the leaf no longer chains to it.
      const renamed = Buffer.from(
        derOf(root.pem).toString("latin1").replaceAll("root test CA", "r00t test CA"),
        "latin1",
      )
      yield* invalid(leaf, wrap(renamed), "UntrustedChain")
      // A byte of the root's own signature changed (an anchor's is not checked): what comes back is that text.
      const der = derOf(root.pem)
      der[der.length - 1] = der[der.length - 1]! ^ 1
      assert.strictEqual((yield* checkIssued(leaf, wrap(der), key)).caPem, wrap(der))
      yield* invalid(leaf, `${root.pem}trailing`, "CaUnparsable")
      yield* invalid(leaf, root.pem.slice(0, -30), "CaUnparsable")
      yield* invalid(leaf, root.pem.replace("CERTIFICATE", "X509 CRL"), "CaUnparsable")
      // A prefix of a remembered bundle, and the bundle with a root added, are read as they are.
      const bundle = `${otherRoot.pem}${root.pem}`
      yield* checkIssued(leaf, bundle, key)
      yield* invalid(leaf, otherRoot.pem, "UntrustedChain")
      assert.strictEqual(
        (yield* checkIssued(leaf, `${bundle}${int1.pem}`, key)).caPem,
        `${bundle}${int1.pem}`,
      )
    }),
  )

  it.effect("keeps only texts that read well, within its bounds", () =>
    Effect.gen(function* () {
      yield* at()
      yield* checkIssued(leaf, root.pem, key)
      const before = recentAnchors.size
      yield* invalid(leaf, "not a ca", "CaUnparsable")
      yield* invalid(leaf, `${root.pem}trailing`, "CaUnparsable")
      yield* invalid(leaf, `${root.pem}${block("CERTIFICATE", "AAAA")}`, "CaUnparsable")
      assert.deepStrictEqual(recentAnchors.size, before)
      const limits = recentAnchors.limits
      for (let i = 0; i < limits.entries + 4; i++) {
        assert.strictEqual((yield* checkIssued(leaf, `${root.pem}${" ".repeat(i)}`, key)).caPem, root.pem)
      }
      const after = recentAnchors.size
      assert.strictEqual(after.entries, limits.entries)
      assert.isAtMost(after.bytes, limits.bytes)
      // The oldest went first.
      assert.isFalse(recentAnchors.has(root.pem))
      const padded = `${root.pem}${" ".repeat(limits.entryBytes)}`
      assert.strictEqual((yield* checkIssued(leaf, padded, key)).caPem, root.pem)
      assert.isFalse(recentAnchors.has(padded))
      assert.deepStrictEqual(recentAnchors.size, after)
    }),
  )
})

describe("checkIssued refuses, naming the reason", () => {
  it.effect("an empty certificate", () =>
    Effect.gen(function* () {
      yield* at()
      yield* invalid("", root.pem, "Empty")
      yield* invalid(" \r\n\t", root.pem, "Empty")
    }),
  )

  it.effect("text before, between or after the blocks, saying where and how much but not what", () =>
    Effect.gen(function* () {
      yield* at()
      assert.include(
        yield* invalid(`${leaf}trailing bytes\n`, root.pem, "ExtraData"),
        "after the last PEM block",
      )
      assert.include(
        yield* invalid(`Subject: CN=x\n${leaf}`, root.pem, "ExtraData"),
        "before the first PEM block",
      )
      const between = yield* invalid(`${leaf}junk\n${root.pem}`, root.pem, "ExtraData")
      assert.include(between, "between PEM blocks 1 and 2")
      assert.include(between, "4 characters")
      assert.notInclude(between, "junk")
      // An END line must end its line.
      yield* invalid(`${leaf.trimEnd()}${root.pem}`, root.pem, "ExtraData")
      yield* invalid(`${leaf.trimEnd()}x`, root.pem, "ExtraData")
      // A NUL or any other byte counts, not only printable text.
      yield* invalid(`${leaf}\u0000`, root.pem, "ExtraData")
      yield* invalid("garbage", root.pem, "Unparsable")
    }),
  )

  it.effect("a block that is not a CERTIFICATE, without showing its body", () =>
    Effect.gen(function* () {
      yield* at()
      const keyPem = key.keyObject.export({ type: "pkcs8", format: "pem" }).toString()
      const message = yield* invalid(`${leaf}${keyPem}`, root.pem, "NotCertificate")
      assert.include(message, '"PRIVATE KEY"')
      for (const line of bodyOf(keyPem).match(/.{1,16}/g) ?? []) assert.notInclude(message, line)
      yield* invalid(block("X509 CRL", bodyOf(leaf)), root.pem, "NotCertificate")
      yield* invalid(csrPem, root.pem, "NotCertificate")
      yield* invalid(leaf, csrPem, "CaUnparsable")
    }),
  )

  it.effect("broken armour, headers and base64 that is not canonical", () =>
    Effect.gen(function* () {
      yield* at()
      const body = bodyOf(leaf)
      yield* invalid(leaf.slice(0, leaf.length / 2), root.pem, "Unparsable")
      yield* invalid(
        leaf.replace("-----END CERTIFICATE-----", "-----END X509 CRL-----"),
        root.pem,
        "Unparsable",
      )
      yield* invalid(
        leaf.replace("-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE----- x"),
        root.pem,
        "Unparsable",
      )
      yield* invalid(`-----BEGIN -----\n${body}\n-----END -----\n`, root.pem, "Unparsable")
      yield* invalid(block("CERTIFICATE", `Proc-Type: 4,ENCRYPTED\n\n${body}`), root.pem, "Unparsable")
      yield* invalid(block("CERTIFICATE", `${body}!`), root.pem, "Unparsable")
      yield* invalid(block("CERTIFICATE", ""), root.pem, "Unparsable")
      // (base64 canonicity itself is pem.test.ts's)
      yield* invalid(block("CERTIFICATE", "AAAA"), root.pem, "Unparsable")
    }),
  )

  it.effect("a block that is more or less than one DER certificate, though OpenSSL would read it", () =>
    Effect.gen(function* () {
      yield* at()
      const der = derOf(leaf)
      // OpenSSL reads the certificate off the front and ignores the rest.
      const padded = Buffer.concat([der, Buffer.from("tail")])
      assert.doesNotThrow(() => new crypto.X509Certificate(padded))
      yield* invalid(wrap(padded), root.pem, "Unparsable")
      // A non-minimal (BER) length on the outer SEQUENCE.
      assert.strictEqual(der[1], 0x82)
      const ber = Buffer.concat([Buffer.from([0x30, 0x83, 0x00]), der.subarray(2)])
      assert.doesNotThrow(() => new crypto.X509Certificate(ber))
      yield* invalid(wrap(ber), root.pem, "Unparsable")
      yield* invalid(wrap(der.subarray(0, der.length - 1)), root.pem, "Unparsable")
    }),
  )

  it.effect("more certificates than any chain needs", () =>
    Effect.gen(function* () {
      yield* at()
      yield* invalid(leaf + root.pem.repeat(40), root.pem, "TooManyCertificates")
    }),
  )

  it.effect("a CA field that is not CERTIFICATE blocks only", () =>
    Effect.gen(function* () {
      yield* at()
      assert.include(yield* invalid(leaf, "not a ca", "CaUnparsable"), "status.ca")
      yield* invalid(leaf, root.pem.slice(0, 100), "CaUnparsable")
      yield* invalid(leaf, `${root.pem}trailing`, "CaUnparsable")
      yield* invalid(leaf, `${root.pem}${block("CERTIFICATE", "AAAA")}`, "CaUnparsable")
    }),
  )

  it.effect("a certificate for another key", () =>
    Effect.gen(function* () {
      yield* at()
      const other = yield* Effect.promise(() => generate(keySpec("ECDSA", 256, "PKCS8")))
      yield* invalid(leaf, root.pem, "PublicKeyMismatch", other)
      const rsa = yield* Effect.promise(() => generate(keySpec("RSA", 2048, "PKCS1")))
      yield* invalid(leaf, root.pem, "PublicKeyMismatch", rsa)
      // The CA's own certificate is well-formed but not ours; so is a chain with the leaf second.
      yield* invalid(root.pem, root.pem, "PublicKeyMismatch")
      yield* invalid(`${root.pem}${leaf}`, root.pem, "PublicKeyMismatch")
    }),
  )

  it.effect("a certificate not valid now: expired, or notBefore more than the clock skew ahead", () =>
    Effect.gen(function* () {
      const skew = 5 * 60_000
      assert.strictEqual(Duration.toMillis(clockSkew), skew)
      yield* at(notAfter - 1000)
      yield* checkIssued(leaf, root.pem, key)
      yield* at(notAfter)
      assert.include(yield* invalid(leaf, root.pem, "Expired"), new Date(notAfter).toISOString())
      yield* at(notAfter + 86_400_000)
      yield* invalid(leaf, root.pem, "Expired")
      yield* at(notBefore - skew)
      yield* checkIssued(leaf, root.pem, key)
      yield* at(notBefore - skew - 1000)
      assert.include(yield* invalid(leaf, root.pem, "NotYetValid"), new Date(notBefore).toISOString())
      yield* at(notBefore - 86_400_000)
      yield* invalid(leaf, root.pem, "NotYetValid")
    }),
  )

  it.effect("a certificate that does not chain to status.ca", () =>
    Effect.gen(function* () {
      yield* at()
      const message = yield* invalid(leaf, otherRoot.pem, "UntrustedChain")
      assert.include(message, '"CN=root test CA"')
      assert.include(message, '"CN=other-root test CA"')
      // A missing link: int1 alone cannot reach int2's leaf.
      yield* invalid(`${leafViaTwo}${int1.pem}`, root.pem, "UntrustedChain")
      yield* invalid(leafViaTwo, root.pem, "UntrustedChain")
      // The right names on a certificate another key signed: the signature is checked, not only names.
      const impostor = makeCa(t, "root")
      yield* invalid(leaf, impostor.pem, "UntrustedChain")
      yield* invalid(`${leafViaTwo}${int2.pem}${int1.pem}`, otherRoot.pem, "UntrustedChain")
    }),
  )

  it.effect("a chain through a certificate that is not a CA", () =>
    Effect.gen(function* () {
      yield* at()
      const notCa = makeIntermediate(root, "not-a-ca", false)
      const viaNotCa = signCsr(t, notCa, csrPem, "leaf-via-not-ca")
      yield* invalid(`${viaNotCa}${notCa.pem}`, root.pem, "UntrustedChain")
    }),
  )
})

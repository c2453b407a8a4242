/**
 * The sandbox issuer's signing path (CSR reader, signature check, DER certificate
 * encoder) called directly: CSRs from `openssl req` with RSA, ECDSA P-256/P-384, Ed25519
 * and RSA-PSS keys, signed by CAs with RSA and ECDSA keys, each result checked with the
 * openssl CLI; the DER pieces compared with @peculiar/x509's; and bad or garbage requests
 * that must fail as a SignFailure, never as a defect.
 */
import "reflect-metadata"
import { createHash, createPublicKey } from "node:crypto"
import * as x509 from "@peculiar/x509"
import { Effect, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { extension, namedBits } from "../../src/pki/der.js"
import type { KubeObject } from "../../src/testing/api-server/objects.js"
import {
  type CertificateAuthority,
  crypto,
  generateCa,
  issueServingCertificate,
  loadCa,
} from "../../src/testing/issuer/ca.js"
import { time, unsignedInteger } from "../../src/testing/issuer/der-writer.js"
import { type Issued, SignFailure, signCertificateRequest } from "../../src/testing/issuer/sign.js"
import { openssl, opensslOk, tempDir } from "../support/openssl.js"

const tmp = tempDir()
afterAll(() => tmp.cleanup())

type KeyKind = "rsa" | "p256" | "p384" | "ed25519" | "rsa-pss"

const keyArgs: Record<KeyKind, ReadonlyArray<string>> = {
  rsa: ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
  p256: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
  p384: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
  ed25519: ["-algorithm", "ed25519"],
  "rsa-pss": ["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"],
}

let fileCounter = 0
const file = (name: string, content?: string | Uint8Array) => tmp.file(`${++fileCounter}-${name}`, content)

/** A fresh private key from `openssl genpkey`: its PEM file path. */
const newKey = (kind: KeyKind): string => file(`${kind}.key`, opensslOk(["genpkey", ...keyArgs[kind]]))

/** A CSR from `openssl req`: its PEM. */
const newCsr = (keyPath: string, subject: string, san: string, extra: ReadonlyArray<string> = []): string =>
  opensslOk(["req", "-new", "-key", keyPath, "-subj", subject, "-addext", `subjectAltName=${san}`, ...extra])

/** A self-signed CA from `openssl req -x509` (which adds a SubjectKeyIdentifier). */
const newCa = (keyPath: string, subject: string, extra: ReadonlyArray<string> = []) => {
  const pem = opensslOk([
    "req",
    "-x509",
    "-key",
    keyPath,
    "-subj",
    subject,
    "-days",
    "30",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    ...extra,
  ])
  return { certificatePem: pem, certPath: file("ca.crt", pem), keyPath }
}

const load = (ca: { certificatePem: string; keyPath: string }): Promise<CertificateAuthority> =>
  Effect.runPromise(
    loadCa({ certificatePem: ca.certificatePem, privateKeyPem: opensslOk(["pkey", "-in", ca.keyPath]) }),
  )

const crFor = (csrPem: string, spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "cert-manager.io/v1",
  kind: "CertificateRequest",
  metadata: { name: "cr", namespace: "ns" },
  spec: { request: Buffer.from(csrPem).toString("base64"), ...spec },
})

const sign = (ca: CertificateAuthority, cr: KubeObject): Promise<Issued> =>
  Effect.runPromise(signCertificateRequest(ca, cr))

/** Signing that must fail: the SignFailure (a defect rejects the promise and fails the test). */
const signFailure = async (ca: CertificateAuthority, cr: KubeObject): Promise<SignFailure> => {
  const error = await Effect.runPromise(Effect.flip(signCertificateRequest(ca, cr)))
  expect(error).toBeInstanceOf(SignFailure)
  return error
}

/** One extension as `openssl x509 -ext` prints it, header line included. */
const ext = (certPath: string, name: string): string =>
  opensslOk(["x509", "-in", certPath, "-noout", "-ext", name]).trim()

const keyIdOf = (certPath: string, name: "subjectKeyIdentifier" | "authorityKeyIdentifier"): string => {
  const text = ext(certPath, name)
  const id = /([0-9A-F]{2}(?::[0-9A-F]{2}){19})/.exec(text)
  expect(id, text).not.toBeNull()
  return id![1]!
}

/** The SubjectKeyIdentifier openssl itself computes (`subjectKeyIdentifier=hash`) for a CSR's key. */
const opensslSki = (csrPath: string, caKeyPath: string, caCertPath: string): string => {
  const extfile = file("ski.cnf", "subjectKeyIdentifier=hash\n")
  const out = file("openssl-signed.crt")
  opensslOk([
    "x509",
    "-req",
    "-in",
    csrPath,
    "-CA",
    caCertPath,
    "-CAkey",
    caKeyPath,
    "-CAcreateserial",
    "-extfile",
    extfile,
    "-out",
    out,
  ])
  return keyIdOf(out, "subjectKeyIdentifier")
}

const datesOf = (certPath: string) => {
  const text = opensslOk(["x509", "-in", certPath, "-noout", "-startdate", "-enddate"])
  const start = /notBefore=(.+)/.exec(text)![1]!
  const end = /notAfter=(.+)/.exec(text)![1]!
  return { notBefore: Date.parse(start), notAfter: Date.parse(end) }
}

interface Check {
  readonly ca: { certPath: string; keyPath: string }
  readonly csrPem: string
  readonly issued: Issued
  readonly san: string
  readonly signatureAlgorithm: string
}

/** Everything a leaf must be, checked with openssl. Returns the leaf's path. */
const checkLeaf = (c: Check): string => {
  const leaf = file("leaf.crt", c.issued.certificatePem)
  const csrPath = file("req.csr", c.csrPem)
  expect(opensslOk(["verify", "-CAfile", c.ca.certPath, leaf])).toContain(": OK")
  const text = opensslOk(["x509", "-in", leaf, "-noout", "-text"])
  expect(text).toContain("Version: 3 (0x2)")
  expect(text).toContain(`Signature Algorithm: ${c.signatureAlgorithm}`)
  // subject and key are the CSR's, issuer the CA's subject
  const subject = (args: ReadonlyArray<string>) =>
    opensslOk([...args, "-noout", "-subject", "-nameopt", "RFC2253"])
  expect(subject(["x509", "-in", leaf])).toBe(subject(["req", "-in", csrPath]))
  expect(
    opensslOk(["x509", "-in", leaf, "-noout", "-issuer", "-nameopt", "RFC2253"]).replace("issuer=", ""),
  ).toBe(subject(["x509", "-in", c.ca.certPath]).replace("subject=", ""))
  expect(opensslOk(["x509", "-in", leaf, "-noout", "-pubkey"])).toBe(
    opensslOk(["req", "-in", csrPath, "-noout", "-pubkey"]),
  )
  expect(ext(leaf, "subjectAltName")).toContain(c.san)
  // key identifiers: the leaf's is openssl's own for that key, its AKI is the CA's SKI
  expect(keyIdOf(leaf, "subjectKeyIdentifier")).toBe(opensslSki(csrPath, c.ca.keyPath, c.ca.certPath))
  expect(keyIdOf(leaf, "authorityKeyIdentifier")).toBe(keyIdOf(c.ca.certPath, "subjectKeyIdentifier"))
  // a positive serial of at most 16 octets
  const serial = opensslOk(["x509", "-in", leaf, "-noout", "-serial"]).trim().replace("serial=", "")
  expect(serial).toMatch(/^[0-9A-F]{2,32}$/)
  return leaf
}

describe("signCertificateRequest with openssl CSRs and CAs", () => {
  let rsaCa: ReturnType<typeof newCa>
  let p256Ca: ReturnType<typeof newCa>
  let p384Ca: ReturnType<typeof newCa>

  beforeAll(() => {
    rsaCa = newCa(newKey("rsa"), "/CN=RSA test CA/O=acme")
    p256Ca = newCa(newKey("p256"), "/CN=P-256 test CA/O=acme/OU=sandbox")
    p384Ca = newCa(newKey("p384"), "/CN=P-384 test CA")
  })

  const csrKinds: ReadonlyArray<KeyKind> = ["rsa", "p256", "p384", "ed25519"]
  const caCases = [
    { name: "RSA", ca: () => rsaCa, signatureAlgorithm: "sha256WithRSAEncryption" },
    { name: "ECDSA P-256", ca: () => p256Ca, signatureAlgorithm: "ecdsa-with-SHA256" },
    { name: "ECDSA P-384", ca: () => p384Ca, signatureAlgorithm: "ecdsa-with-SHA384" },
  ]

  for (const caCase of caCases) {
    for (const kind of csrKinds) {
      it(`a ${kind} CSR signed by a ${caCase.name} CA`, async () => {
        const ca = caCase.ca()
        const san = `DNS:${kind}.example.com, IP Address:10.1.2.3`
        const csrPem = newCsr(newKey(kind), `/CN=${kind} leaf/O=acme`, `DNS:${kind}.example.com,IP:10.1.2.3`)
        const issued = await sign(
          await load(ca),
          crFor(csrPem, { usages: ["digital signature", "key encipherment", "server auth", "client auth"] }),
        )
        const leaf = checkLeaf({ ca, csrPem, issued, san, signatureAlgorithm: caCase.signatureAlgorithm })
        expect(ext(leaf, "basicConstraints")).toMatch(/critical\s+CA:FALSE/)
        expect(ext(leaf, "keyUsage")).toMatch(/critical\s+Digital Signature, Key Encipherment$/)
        expect(ext(leaf, "extendedKeyUsage")).toMatch(
          /Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication$/,
        )
        expect(ext(leaf, "subjectAltName")).not.toContain("critical")
        // a self-signed root stays out of the chain
        expect(Buffer.from(issued.certificate, "base64").toString()).toBe(issued.certificatePem)
        expect(Buffer.from(issued.ca, "base64").toString().trim()).toBe(ca.certificatePem.trim())
      })
    }
  }

  it("an RSA-PSS CSR (rsaEncryption and RSASSA-PSS keys); PSS with SHA-1 or mixed hashes fails", async () => {
    const ca = await load(p256Ca)
    const pssArgs = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-sha384"]
    const rsaKey = newKey("rsa")
    for (const csrPem of [
      newCsr(rsaKey, "/CN=pss leaf", "DNS:pss.example.com", pssArgs),
      newCsr(newKey("rsa-pss"), "/CN=pss-key leaf", "DNS:pss.example.com"),
    ]) {
      expect(opensslOk(["req", "-noout", "-text"], csrPem)).toContain("rsassaPss")
      const issued = await sign(ca, crFor(csrPem))
      checkLeaf({
        ca: p256Ca,
        csrPem,
        issued,
        san: "DNS:pss.example.com",
        signatureAlgorithm: "ecdsa-with-SHA256",
      })
    }
    const mixed = newCsr(rsaKey, "/CN=mixed", "DNS:pss.example.com", [
      ...pssArgs,
      "-sigopt",
      "rsa_mgf1_md:sha256",
    ])
    expect((await signFailure(ca, crFor(mixed))).message).toMatch(/signature.*RSASSA-PSS/)
    const sha1 = newCsr(rsaKey, "/CN=pss-sha1", "DNS:pss.example.com", [
      "-sigopt",
      "rsa_padding_mode:pss",
      "-sha1",
    ])
    expect((await signFailure(ca, crFor(sha1))).message).toMatch(/signature.*RSASSA-PSS/)
  })

  it("accepts SHA-1 PKCS#1 and ECDSA CSR signatures, as Go's CSR check does", async () => {
    const ca = await load(rsaCa)
    for (const kind of ["rsa", "p256"] as const) {
      const csrPem = newCsr(newKey(kind), `/CN=sha1 ${kind}`, "DNS:sha1.example.com", ["-sha1"])
      const issued = await sign(ca, crFor(csrPem))
      checkLeaf({
        ca: rsaCa,
        csrPem,
        issued,
        san: "DNS:sha1.example.com",
        signatureAlgorithm: "sha256WithRSAEncryption",
      })
    }
  })

  it("isCA adds cert sign and CA:TRUE; the SAN extension is copied with the CSR's criticality", async () => {
    const ca = await load(p256Ca)
    const csrPem = newCsr(newKey("p256"), "/", "critical,DNS:only-san.example.com")
    expect(opensslOk(["req", "-noout", "-subject"], csrPem).trim()).toBe("subject=")
    const issued = await sign(ca, crFor(csrPem, { isCA: true, usages: ["digital signature"] }))
    const leaf = file("empty-subject.crt", issued.certificatePem)
    expect(opensslOk(["verify", "-CAfile", p256Ca.certPath, leaf])).toContain(": OK")
    expect(ext(leaf, "basicConstraints")).toMatch(/critical\s+CA:TRUE/)
    expect(ext(leaf, "keyUsage")).toMatch(/critical\s+Digital Signature, Certificate Sign$/)
    expect(ext(leaf, "subjectAltName")).toMatch(/critical\s+DNS:only-san\.example\.com/)
    expect(openssl(["x509", "-in", leaf, "-noout", "-ext", "extendedKeyUsage"]).stdout).not.toContain("Usage")
    // A CSR that leaves it non-critical gets what it asked for, as from cert-manager's CA
    // issuer: RFC 5280's rule for an empty subject is the requester's to keep.
    const loose = newCsr(newKey("p256"), "/", "DNS:only-san.example.com")
    const looseLeaf = file("loose.crt", (await sign(ca, crFor(loose))).certificatePem)
    expect(ext(looseLeaf, "subjectAltName")).not.toContain("critical")
  })

  it("usages and a CA flag the CSR asks for must be the spec's, as cert-manager's CA issuer checks", async () => {
    const ca = await load(p256Ca)
    const key = newKey("p256")
    const csr = (...exts: ReadonlyArray<string>) =>
      newCsr(
        key,
        "/CN=asks",
        "DNS:asks.example.com",
        exts.flatMap((e) => ["-addext", e]),
      )
    const failure = async (csrPem: string, spec: Record<string, unknown>) =>
      (await signFailure(ca, crFor(csrPem, spec))).message
    // KeyUsage flags must be equal, cert sign included for a CA
    expect(
      await failure(csr("keyUsage=critical,digitalSignature"), { isCA: true, usages: ["digital signature"] }),
    ).toBe(
      "Error generating certificate template: encoded CSR error: the KeyUsages [ 'digital signature' ] do not match the expected KeyUsages [ 'digital signature', 'cert sign' ]",
    )
    // ExtendedKeyUsages must be equal in order
    expect(
      await failure(csr("extendedKeyUsage=clientAuth,serverAuth"), {
        usages: ["digital signature", "key encipherment", "server auth", "client auth"],
      }),
    ).toBe(
      "Error generating certificate template: encoded CSR error: the KeyUsages [] do not match the expected KeyUsages [ 'digital signature', 'key encipherment' ]",
    )
    expect(
      await failure(
        csr("keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=clientAuth,serverAuth"),
        {
          usages: ["digital signature", "key encipherment", "server auth", "client auth"],
        },
      ),
    ).toBe(
      "Error generating certificate template: encoded CSR error: the ExtKeyUsages [ 'client auth', 'server auth' ] do not match the expected ExtKeyUsages [ 'server auth', 'client auth' ]",
    )
    // BasicConstraints must say what spec.isCA says
    expect(await failure(csr("basicConstraints=critical,CA:TRUE"), {})).toBe(
      "Error generating certificate template: encoded CSR error: IsCA true does not match expected value false",
    )
    expect(await failure(csr("basicConstraints=critical,CA:FALSE"), { isCA: true })).toMatch(
      /IsCA false does not match expected value true$/,
    )
    // and when they agree the certificate is issued
    const agreed = csr(
      "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
      "extendedKeyUsage=serverAuth",
      "basicConstraints=critical,CA:TRUE",
    )
    const issued = await sign(
      ca,
      crFor(agreed, { isCA: true, usages: ["signing", "key encipherment", "server auth"] }),
    )
    expect(ext(file("agreed.crt", issued.certificatePem), "basicConstraints")).toMatch(/CA:TRUE/)
  })

  it("validity: spec.duration from now, capped at the CA's notAfter", async () => {
    const ca = await load(p256Ca)
    const csrPem = newCsr(newKey("p256"), "/CN=dates", "DNS:dates.example.com")
    const before = Math.floor(Date.now() / 1000) * 1000
    const short = datesOf(
      file("short.crt", (await sign(ca, crFor(csrPem, { duration: "1h30m" }))).certificatePem),
    )
    expect(short.notBefore).toBeGreaterThanOrEqual(before)
    expect(short.notBefore).toBeLessThanOrEqual(Date.now())
    expect(short.notAfter - short.notBefore).toBe(90 * 60_000)
    // the default is 2160h, more than the CA's 30 days: capped
    const capped = datesOf(file("capped.crt", (await sign(ca, crFor(csrPem))).certificatePem))
    expect(capped.notAfter).toBe(datesOf(p256Ca.certPath).notAfter)
  })

  it("validity past 2049 is a GeneralizedTime (RFC 5280 4.1.2.5)", async () => {
    const far = newCa(newKey("p256"), "/CN=far CA", ["-days", "14000"])
    const issued = await sign(
      await load(far),
      crFor(newCsr(newKey("p256"), "/CN=far", "DNS:far.example.com"), { duration: `${30 * 365 * 24}h` }),
    )
    const leaf = file("far.crt", issued.certificatePem)
    expect(opensslOk(["verify", "-CAfile", far.certPath, leaf])).toContain(": OK")
    const asn1 = opensslOk(["asn1parse", "-in", leaf])
    expect(asn1).toMatch(/UTCTIME\s+:\d{12}Z/)
    expect(asn1).toMatch(/GENERALIZEDTIME\s+:20[5-9]\d{11}Z/)
    expect(new Date(datesOf(leaf).notAfter).getUTCFullYear()).toBeGreaterThanOrEqual(2050)
  })

  it("a CA without a SubjectKeyIdentifier: the AKI is the SHA-1 of the CA's key", async () => {
    const keyPath = newKey("p256")
    const noSki = newCa(keyPath, "/CN=no SKI CA", [
      "-addext",
      "subjectKeyIdentifier=none",
      "-addext",
      "authorityKeyIdentifier=none",
    ])
    expect(openssl(["x509", "-in", noSki.certPath, "-noout", "-ext", "subjectKeyIdentifier"]).stdout).toBe("")
    const issued = await sign(await load(noSki), crFor(newCsr(newKey("p256"), "/CN=x", "DNS:x.example.com")))
    const leaf = file("noski-leaf.crt", issued.certificatePem)
    expect(opensslOk(["verify", "-CAfile", noSki.certPath, leaf])).toContain(": OK")
    // subjectPublicKey of an EC key is the uncompressed point 04 || x || y
    const jwk = createPublicKey(opensslOk(["pkey", "-in", keyPath, "-pubout"])).export({ format: "jwk" })
    const point = Buffer.concat([
      Buffer.of(4),
      Buffer.from(jwk.x!, "base64url"),
      Buffer.from(jwk.y!, "base64url"),
    ])
    const expected = createHash("sha1").update(point).digest("hex").toUpperCase().match(/../g)!.join(":")
    expect(keyIdOf(leaf, "authorityKeyIdentifier")).toBe(expected)
  })

  it("an intermediate CA: the chain carries it and verifies up to the root", async () => {
    const root = newCa(newKey("p256"), "/CN=root")
    const interKey = newKey("p384")
    const interCsr = file(
      "inter.csr",
      opensslOk(["req", "-new", "-key", interKey, "-subj", "/CN=intermediate"]),
    )
    const interPem = opensslOk([
      "x509",
      "-req",
      "-in",
      interCsr,
      "-CA",
      root.certPath,
      "-CAkey",
      root.keyPath,
      "-CAcreateserial",
      "-days",
      "10",
      "-extfile",
      file("inter.cnf", "basicConstraints=critical,CA:TRUE\nsubjectKeyIdentifier=hash\n"),
    ])
    const inter = { certificatePem: interPem, certPath: file("inter.crt", interPem), keyPath: interKey }
    const issued = await sign(
      await load(inter),
      crFor(newCsr(newKey("ed25519"), "/CN=deep", "DNS:deep.example.com")),
    )
    const chain = file("chain.pem", Buffer.from(issued.certificate, "base64"))
    expect(Buffer.from(issued.certificate, "base64").toString()).toBe(`${issued.certificatePem}${interPem}`)
    expect(opensslOk(["verify", "-CAfile", root.certPath, "-untrusted", chain, chain])).toContain(": OK")
    const leaf = file("deep.crt", issued.certificatePem)
    expect(keyIdOf(leaf, "authorityKeyIdentifier")).toBe(keyIdOf(inter.certPath, "subjectKeyIdentifier"))
  })
})

describe("the generated CA and the serving certificate", () => {
  it("generateCa signs leaves openssl verifies, with the extensions @peculiar/x509 used to build", async () => {
    const ca = await Effect.runPromise(generateCa())
    const caPath = file("generated-ca.crt", ca.certificatePem)
    const csrPem = newCsr(newKey("p256"), "/CN=gen", "DNS:gen.example.com")
    const usages = ["digital signature", "key encipherment", "server auth", "client auth", "code signing"]
    const issued = await sign(ca, crFor(csrPem, { usages }))
    const leaf = file("gen.crt", issued.certificatePem)
    expect(opensslOk(["verify", "-CAfile", caPath, leaf])).toContain(": OK")
    expect(keyIdOf(leaf, "authorityKeyIdentifier")).toBe(keyIdOf(caPath, "subjectKeyIdentifier"))
    // the same extensions, byte for byte and in order, as the @peculiar/x509 signer made
    const parsed = new x509.X509Certificate(issued.certificatePem)
    const csr = new x509.Pkcs10CertificateRequest(csrPem)
    const caSki = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension)!
    const expected: ReadonlyArray<x509.Extension> = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(
        ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.3"],
        false,
      ),
      new x509.Extension("2.5.29.17", false, csr.getExtension("2.5.29.17")!.value),
      await x509.SubjectKeyIdentifierExtension.create(csr.publicKey, false, crypto),
      new x509.AuthorityKeyIdentifierExtension(caSki.keyId, false),
    ]
    const hex = (e: x509.Extension) => Buffer.from(e.rawData).toString("hex")
    expect(parsed.extensions.map(hex)).toEqual(expected.map(hex))
    expect(parsed.issuer).toBe(ca.certificate.subject)
    expect(await parsed.verify({ publicKey: ca.certificate.publicKey }, crypto)).toBe(true)
  })

  it("issueServingCertificate: a TLS server certificate for the hosts, with its key", async () => {
    const ca = await Effect.runPromise(generateCa())
    const serving = await Effect.runPromise(issueServingCertificate(ca, ["sandbox.local", "10.9.8.7"]))
    const caPath = file("serving-ca.crt", ca.certificatePem)
    const leaf = file("serving.crt", serving.certificatePem)
    expect(opensslOk(["verify", "-CAfile", caPath, "-purpose", "sslserver", leaf])).toContain(": OK")
    expect(opensslOk(["x509", "-in", leaf, "-noout", "-subject"]).trim()).toBe("subject=CN = kube-apiserver")
    expect(ext(leaf, "subjectAltName")).toContain(
      "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:sandbox.local, IP Address:10.9.8.7",
    )
    const keyPem = Redacted.value(serving.privateKeyPem)
    expect(opensslOk(["pkey", "-pubout"], keyPem)).toBe(opensslOk(["x509", "-in", leaf, "-noout", "-pubkey"]))
  })
})

describe("bad requests are SignFailures", () => {
  let ca: CertificateAuthority
  let csrPem: string
  let der: Buffer
  const armour = (bytes: Uint8Array) =>
    `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(bytes).toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`

  beforeAll(async () => {
    ca = await Effect.runPromise(generateCa())
    csrPem = newCsr(newKey("p256"), "/CN=victim", "DNS:victim.example.com")
    der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, "").replace(/\s/g, ""), "base64")
  })

  it("a tampered signature, or tampered signed content", async () => {
    const badSig = Buffer.from(der)
    badSig[badSig.length - 3] = badSig[badSig.length - 3]! ^ 0x01
    expect((await signFailure(ca, crFor(armour(badSig)))).message).toBe(
      "Error generating certificate template: csr signature is invalid",
    )
    const badSubject = Buffer.from(der)
    const at = badSubject.indexOf("victim")
    badSubject[at] = "V".charCodeAt(0)
    expect((await signFailure(ca, crFor(armour(badSubject)))).message).toMatch(/csr signature is invalid/)
  })

  it("garbage of every kind", async () => {
    const cases: ReadonlyArray<[unknown, RegExp]> = [
      [undefined, /spec.request is empty/],
      ["", /spec.request is empty/],
      [42, /spec.request is empty/],
      [Buffer.from("not a csr").toString("base64"), /error decoding certificate request PEM block/],
      [Buffer.from(armour(Buffer.from("hello"))).toString("base64"), /failed to parse csr/],
      [Buffer.from(armour(Buffer.alloc(300, 0x30))).toString("base64"), /failed to parse csr/],
      [
        Buffer.from(armour(Uint8Array.of(0x30, 0x84, 0xff, 0xff, 0xff, 0xff))).toString("base64"),
        /failed to parse csr/,
      ],
      [Buffer.from(armour(Uint8Array.of(0x30, 0x80, 0, 0))).toString("base64"), /failed to parse csr/],
      // a certificate is not a CSR
      [
        Buffer.from(
          armour(Buffer.from(ca.certificatePem.replace(/-----[^-]+-----/g, "").replace(/\s/g, ""), "base64")),
        ).toString("base64"),
        /failed to parse csr/,
      ],
      // trailing bytes after the CSR
      [Buffer.from(armour(Buffer.concat([der, Buffer.of(0)]))).toString("base64"), /failed to parse csr/],
    ]
    for (const [request, message] of cases) {
      const cr: KubeObject = {
        apiVersion: "cert-manager.io/v1",
        kind: "CertificateRequest",
        metadata: { name: "garbage", namespace: "ns" },
        spec: { request },
      }
      expect((await signFailure(ca, cr)).message).toMatch(message)
    }
    expect((await signFailure(ca, crFor(csrPem, { duration: "forever" }))).message).toMatch(
      /invalid spec.duration/,
    )
  })

  it("every truncation and every single-byte change of a CSR fails cleanly", async () => {
    for (let length = 0; length < der.length; length++) {
      await signFailure(ca, crFor(armour(der.subarray(0, length))))
    }
    for (let at = 0; at < der.length; at++) {
      const changed = Buffer.from(der)
      changed[at] = changed[at]! ^ 0x41
      await signFailure(ca, crFor(armour(changed)))
    }
  })
})

describe("DER pieces", () => {
  it("Time: UTCTime through 2049, GeneralizedTime from 2050 and before 1950, seconds precision", () => {
    const text = (b: Uint8Array) => [b[0], Buffer.from(b.subarray(2)).toString("latin1")]
    expect(text(time(new Date("2049-12-31T23:59:59.999Z")))).toEqual([0x17, "491231235959Z"])
    expect(text(time(new Date("2050-01-01T00:00:00Z")))).toEqual([0x18, "20500101000000Z"])
    expect(text(time(new Date("1950-01-01T00:00:00Z")))).toEqual([0x17, "500101000000Z"])
    expect(text(time(new Date("1949-12-31T23:59:59Z")))).toEqual([0x18, "19491231235959Z"])
    expect(text(time(new Date("2026-03-04T05:06:07Z")))).toEqual([0x17, "260304050607Z"])
  })

  it("INTEGER from bytes: minimal, positive", () => {
    const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")
    expect(hex(unsignedInteger(Uint8Array.of(0, 0, 0x7f, 1)))).toBe("02027f01")
    expect(hex(unsignedInteger(Uint8Array.of(0, 0x80, 1)))).toBe("0203008001")
    expect(hex(unsignedInteger(Uint8Array.of(0xff)))).toBe("020200ff")
    expect(hex(unsignedInteger(Uint8Array.of(0, 0)))).toBe("020100")
  })

  it("KeyUsage and BasicConstraints encode exactly as @peculiar/x509 does", () => {
    const same = (ours: Uint8Array, theirs: x509.Extension) =>
      expect(Buffer.from(ours).toString("hex")).toBe(Buffer.from(theirs.rawData).toString("hex"))
    for (let flags = 1; flags < 512; flags++) {
      same(extension("2.5.29.15", true, namedBits(flags)), new x509.KeyUsagesExtension(flags, true))
    }
    same(
      extension("2.5.29.19", true, Uint8Array.of(0x30, 0)),
      new x509.BasicConstraintsExtension(false, undefined, true),
    )
  })
})

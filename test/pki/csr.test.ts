import { Effect } from "effect"
import { afterAll, assert, describe, it } from "vitest"
import type { CertificateSpec, KeySpec } from "../../src/attributes/spec.js"
import { buildCsr, CsrError } from "../../src/pki/index.js"
import { generate, keySpec, makeSpec, openssl, opensslOk, tempDir } from "./support.js"

const t = tempDir()
afterAll(t.cleanup)

const csrText = (pem: string) => {
  assert.match(pem, /^-----BEGIN CERTIFICATE REQUEST-----/)
  const r = openssl(["req", "-verify", "-noout", "-text", "-nameopt", "RFC2253"], pem)
  assert.strictEqual(r.status, 0, r.stderr)
  assert.include(r.stderr + r.stdout, "verify OK")
  return r.stdout
}

const fullSpec = makeSpec({
  subject: {
    commonName: "my-app.example.com",
    organizations: ["Acme", "Acme Labs"],
    organizationalUnits: ["Platform"],
    countries: ["GB"],
    provinces: ["London"],
    localities: ["Camden"],
    streetAddresses: ["1 Road St"],
    postalCodes: ["NW1 1AA"],
    serialNumber: "12345",
  },
  dnsNames: ["my-app.example.com", "*.my-app.example.com"],
  ipAddresses: ["10.0.0.1", "2001:db8::1"],
  uris: ["spiffe://cluster.local/ns/default/sa/app"],
  usages: ["digital signature", "key encipherment", "cert sign", "server auth", "client auth"],
  isCA: true,
})

describe("buildCsr", () => {
  const keyTypes: ReadonlyArray<readonly [KeySpec, string]> = [
    [keySpec("RSA", 2048, "PKCS1"), "sha256WithRSAEncryption"],
    [keySpec("ECDSA", 256, "PKCS8"), "ecdsa-with-SHA256"],
    [keySpec("ECDSA", 384, "PKCS8"), "ecdsa-with-SHA384"],
    [keySpec("ECDSA", 521, "PKCS8"), "ecdsa-with-SHA512"],
    [keySpec("Ed25519", 0, "PKCS8"), "ED25519"],
  ]
  for (const [kspec, algorithm] of keyTypes) {
    const label = `${kspec.algorithm}-${kspec.size}`
    it(`puts every subject field, SAN, usage and CA:true in a CSR openssl verifies (${label})`, async () => {
      const key = await generate(kspec)
      const text = csrText(await Effect.runPromise(buildCsr({ ...fullSpec, key: kspec }, key)))
      // RFC 2253 prints the last RDN first: Go's DER order (C ... CN, serialNumber) reads backwards here.
      // Both organizations share one RDN, as Go's pkix.Name puts them; DER sorts the SET, RFC 2253 reverses it.
      assert.include(
        text,
        "Subject: serialNumber=12345,CN=my-app.example.com,OU=Platform,O=Acme Labs+O=Acme,postalCode=NW1 1AA,street=1 Road St,L=Camden,ST=London,C=GB\n",
      )
      assert.match(
        text,
        /X509v3 Subject Alternative Name: \n\s+DNS:my-app\.example\.com, DNS:\*\.my-app\.example\.com, IP Address:10\.0\.0\.1, IP Address:2001:DB8:0:0:0:0:0:1, URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/app\n/,
      )
      assert.match(
        text,
        /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment, Certificate Sign\n/,
      )
      assert.match(
        text,
        /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/,
      )
      assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:TRUE\n/)
      assert.include(text, `Signature Algorithm: ${algorithm}`)
    })

    it(`writes cert-manager's default usages when none are given, and nothing else (${label})`, async () => {
      const key = await generate(kspec)
      const spec = makeSpec({
        key: kspec,
        usages: [],
        subject: { ...makeSpec().subject, commonName: "bare" },
      })
      const text = csrText(await Effect.runPromise(buildCsr(spec, key)))
      assert.include(text, "Subject: CN=bare")
      assert.include(text, `Signature Algorithm: ${algorithm}`)
      assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/)
      for (const ext of ["Subject Alternative Name", "Extended Key Usage", "Basic Constraints"]) {
        assert.notInclude(text, ext)
      }
    })
  }

  it("marks the SAN extension critical exactly when the subject is empty (RFC 5280 4.2.1.6)", async () => {
    const key = await generate(keySpec("ECDSA", 256, "PKCS8"))
    const san = async (spec: Partial<CertificateSpec>) =>
      csrText(await Effect.runPromise(buildCsr(makeSpec({ dnsNames: ["a.example"], ...spec }), key)))
    assert.match(await san({}), /X509v3 Subject Alternative Name: critical\n\s+DNS:a\.example\n/)
    assert.match(await san({ literalSubject: "" }), /Subject Alternative Name: critical/)
    const named = await san({ subject: { ...makeSpec().subject, commonName: "a" } })
    assert.match(named, /X509v3 Subject Alternative Name: \n\s+DNS:a\.example\n/)
    assert.match(await san({ subject: { ...makeSpec().subject, organizations: ["Acme"] } }), /Name: \n/)
    assert.match(await san({ literalSubject: "O=Acme" }), /Subject Alternative Name: \n/)
  })

  it("adds cert sign and CA:TRUE for a CA, whatever usages are listed", async () => {
    const key = await generate(keySpec("ECDSA", 256, "PKCS8"))
    const text = csrText(
      await Effect.runPromise(
        buildCsr(makeSpec({ isCA: true, usages: ["digital signature", "server auth"] }), key),
      ),
    )
    assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature, Certificate Sign\n/)
    assert.match(text, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication\n/)
    assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:TRUE\n/)
    const leaf = csrText(await Effect.runPromise(buildCsr(makeSpec({ usages: ["server auth"] }), key)))
    assert.notInclude(leaf, "Key Usage: critical")
    assert.notInclude(leaf, "Basic Constraints")
  })

  it("has only the usages asked for: key usages only, or extended key usages only", async () => {
    const key = await generate(keySpec("ECDSA", 256, "PKCS8"))
    const kuOnly = csrText(
      await Effect.runPromise(
        buildCsr(makeSpec({ usages: ["signing", "key agreement", "decipher only"] }), key),
      ),
    )
    assert.match(kuOnly, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Agreement, Decipher Only\n/)
    assert.notInclude(kuOnly, "Extended Key Usage")
    const ekuOnly = csrText(
      await Effect.runPromise(
        buildCsr(makeSpec({ usages: ["code signing", "s/mime", "email protection", "any"] }), key),
      ),
    )
    assert.match(
      ekuOnly,
      /X509v3 Extended Key Usage: \n\s+Code Signing, E-mail Protection, Any Extended Key Usage\n/,
    )
    assert.notInclude(ekuOnly, "X509v3 Key Usage")
    assert.notInclude(ekuOnly, "Basic Constraints")
  })

  it("uses a literal subject verbatim, last RDN of the string first in DER", async () => {
    const key = await generate(keySpec("ECDSA", 256, "PKCS8"))
    const spec = makeSpec({
      literalSubject: "CN=app\\, with comma,OU=a+OU=b,O=Acme Corp,DC=example,DC=com,UID=u1,C=US",
      subject: { ...makeSpec().subject, commonName: "ignored" },
    })
    const text = csrText(await Effect.runPromise(buildCsr(spec, key)))
    // OpenSSL's RFC 2253 output also reverses the values inside a multi-valued RDN.
    assert.include(
      text,
      "Subject: CN=app\\, with comma,OU=b+OU=a,O=Acme Corp,DC=example,DC=com,UID=u1,C=US\n",
    )
    const oneline = opensslOk(
      ["req", "-noout", "-subject", "-nameopt", "oneline"],
      await Effect.runPromise(buildCsr(spec, key)),
    )
    assert.match(oneline, /^subject=C = US, UID = u1, DC = com, DC = example, O = Acme Corp/)
  })

  it("decodes hex escapes in a literal subject as UTF-8", async () => {
    const key = await generate(keySpec("ECDSA", 256, "PKCS8"))
    const spec = makeSpec({ literalSubject: "CN=caf\\C3\\A9, O = Spaced Org " })
    const csr = await Effect.runPromise(buildCsr(spec, key))
    const subject = opensslOk(["req", "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb"], csr)
    assert.strictEqual(subject.trim(), "subject=CN=café,O=Spaced Org")
  })

  for (const literalSubject of ["CN=a,FOO=b", "CN=#04024869", "no equals sign", 'CN="unterminated']) {
    it(`rejects the literal subject ${JSON.stringify(literalSubject)}`, async () => {
      const key = await generate(keySpec("ECDSA", 256, "PKCS8"))
      const error = await Effect.runPromise(Effect.flip(buildCsr(makeSpec({ literalSubject }), key)))
      assert.instanceOf(error, CsrError)
      assert.strictEqual(error.reason, "InvalidSubject")
    })
  }

  it("rejects an IP address that is not one", async () => {
    const key = await generate(keySpec("ECDSA", 256, "PKCS8"))
    for (const ip of ["10.0.0.256", "1::2::3", "fe80::1%eth0", "example.com"]) {
      const error = await Effect.runPromise(Effect.flip(buildCsr(makeSpec({ ipAddresses: [ip] }), key)))
      assert.strictEqual(error.reason, "InvalidSan", ip)
    }
  })

  const signatures: ReadonlyArray<readonly [KeySpec, string]> = [
    [keySpec("RSA", 2048, "PKCS1"), "sha256WithRSAEncryption"],
    [keySpec("RSA", 3072, "PKCS8"), "sha256WithRSAEncryption"],
    [keySpec("ECDSA", 384, "PKCS8"), "ecdsa-with-SHA384"],
    [keySpec("ECDSA", 521, "PKCS8"), "ecdsa-with-SHA512"],
    [keySpec("Ed25519", 0, "PKCS8"), "ED25519"],
  ]
  for (const [spec, algorithm] of signatures) {
    it(`signs with ${algorithm} for ${spec.algorithm}-${spec.size}`, async () => {
      const key = await generate(spec)
      const text = csrText(
        await Effect.runPromise(buildCsr(makeSpec({ key: spec, dnsNames: ["x.example"] }), key)),
      )
      assert.include(text, `Signature Algorithm: ${algorithm}`)
      // The CSR carries our key's public key.
      const pub = opensslOk(
        ["pkey", "-pubout"],
        key.keyObject.export({ type: "pkcs8", format: "pem" }).toString(),
      )
      const csrPub = opensslOk(
        ["req", "-noout", "-pubkey"],
        await Effect.runPromise(buildCsr(makeSpec({ key: spec }), key)),
      )
      assert.strictEqual(csrPub, pub)
    })
  }
})

/**
 * Java opens our PKCS#12 keystores: every profile, RSA and ECDSA keys, listed by `keytool`
 * with the password. The certificate is the one Java used to refuse ("SubjectAlternativeName
 * extension MUST be marked critical when subject field is empty"): issued by the sandbox's
 * CA, which copies the CSR's SAN extension as cert-manager's does, from our CSR for a
 * volume with SANs only. A control keystore from a CSR with a non-critical SAN shows
 * keytool still refuses that, so the check can fail.
 */
import "reflect-metadata"
import { createPublicKey } from "node:crypto"
import * as x509 from "@peculiar/x509"
import { Effect, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { KeySpec, Pkcs12Profile } from "../../src/attributes/spec.js"
import { buildCsr, encodePkcs12, type PrivateKey } from "../../src/pki/index.js"
import { type CertificateAuthority, crypto, generateCa } from "../../src/testing/issuer/ca.js"
import { signCertificateRequest } from "../../src/testing/issuer/sign.js"
import { hasKeytool, listKeystore, whyNoKeytool } from "../support/keytool.js"
import { generate, keySpec, makeSpec, tempDir } from "./support.js"

const t = tempDir()
afterAll(t.cleanup)

const password = "s3cret pass"
const profiles: ReadonlyArray<Pkcs12Profile> = ["LegacyRC2", "LegacyDES", "Modern2023"]
const keys: ReadonlyArray<KeySpec> = [keySpec("RSA", 2048, "PKCS1"), keySpec("ECDSA", 256, "PKCS8")]

/** The certificate the sandbox CA issues for a CSR: its PEM. */
const issue = (ca: CertificateAuthority, csrPem: string) =>
  Effect.runPromise(
    signCertificateRequest(ca, {
      apiVersion: "cert-manager.io/v1",
      kind: "CertificateRequest",
      metadata: { name: "keytool", namespace: "sandbox" },
      spec: { request: Buffer.from(csrPem).toString("base64") },
    }),
  ).then((issued) => issued.certificatePem)

const keystore = async (
  name: string,
  key: PrivateKey,
  certificatePem: string,
  ca: CertificateAuthority,
  profile: Pkcs12Profile,
) =>
  t.file(
    `${name}.p12`,
    await Effect.runPromise(
      encodePkcs12({
        key,
        certificatePem,
        caPem: ca.certificatePem,
        password: Redacted.make(password),
        profile,
      }),
    ),
  )

/** A CSR for a SANs-only volume, as the driver builds it. */
const sansOnly = makeSpec({ dnsNames: ["app.sandbox.svc.cluster.local"], ipAddresses: ["10.0.0.7"] })

describe.skipIf(!hasKeytool)("keytool lists our keystores", () => {
  let ca: CertificateAuthority
  beforeAll(async () => {
    ca = await Effect.runPromise(generateCa())
  })

  for (const kspec of keys) {
    describe(`${kspec.algorithm}-${kspec.size}`, () => {
      let key: PrivateKey
      let certificatePem: string
      beforeAll(async () => {
        key = await generate(kspec)
        certificatePem = await issue(ca, await Effect.runPromise(buildCsr({ ...sansOnly, key: kspec }, key)))
        // the case Java refused: an empty subject, SANs only
        expect(new x509.X509Certificate(certificatePem).subject).toBe("")
      })

      for (const profile of profiles) {
        it(`${profile}: opens with the password, holding the key entry and its chain`, async () => {
          const file = await keystore(`${kspec.algorithm}-${profile}`, key, certificatePem, ca, profile)
          const listed = listKeystore(file, password)
          expect(listed.output).not.toMatch(/keytool error|Exception/)
          expect(listed.status).toBe(0)
          expect(listed.output).toContain("Your keystore contains 1 entry")
          expect(listed.output).toContain("Entry type: PrivateKeyEntry")
          expect(listed.output).toContain("Certificate chain length: 2")
          expect(listed.output).toMatch(
            /SubjectAlternativeName \[\s+DNSName: app\.sandbox\.svc\.cluster\.local/,
          )
          const wrong = listKeystore(file, "wrong password")
          expect(wrong.status).not.toBe(0)
          expect(wrong.output).toContain("password was incorrect")
        })
      }
    })
  }

  it("refuses a keystore whose certificate has an empty subject and a non-critical SAN (the control)", async () => {
    const key = await generate(keySpec("ECDSA", 256, "PKCS8"))
    const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" }
    const csr = await x509.Pkcs10CertificateRequestGenerator.create(
      {
        name: "",
        keys: {
          privateKey: key.keyObject.toCryptoKey(alg, false, ["sign"]),
          publicKey: createPublicKey(key.keyObject).toCryptoKey(alg, true, ["verify"]),
        },
        signingAlgorithm: alg,
        extensions: [
          new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "loose.example" }], false),
        ],
      },
      crypto,
    )
    const file = await keystore("control", key, await issue(ca, csr.toString("pem")), ca, "Modern2023")
    const listed = listKeystore(file, password)
    expect(listed.status).not.toBe(0)
    expect(listed.output).toContain(
      "SubjectAlternativeName extension MUST be marked critical when subject field is empty",
    )
  })
})
if (!hasKeytool) console.warn(whyNoKeytool)

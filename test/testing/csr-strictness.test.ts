// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} in plain strings is attribute syntax
/**
 * For every volume we can be asked for, the CSR we build and the certificate the sandbox's
 * CA issuer makes from it pass Java's check (an empty subject needs a critical SAN
 * extension, RFC 5280 4.2.1.6), cert-manager's webhook check of the CSR's usages, and its
 * CA issuer's check of usages and CA flag. The volumes are attribute maps searched by a
 * property test and decoded by the driver's own parser; invalid ones are skipped.
 */
import "reflect-metadata"
import { assert, describe, it } from "@effect/vitest"
import * as x509 from "@peculiar/x509"
import { Arbitrary, Effect, Result, Schema } from "effect"
import { decodeAttributes } from "../../src/attributes/parse.js"
import { KeyUsages, type PodInfo } from "../../src/attributes/spec.js"
import { buildCsr } from "../../src/pki/index.js"
import { requestUsages } from "../../src/pki/usages.js"
import { csrCauses } from "../../src/testing/api-server/csr-admission.js"
import { generateCa } from "../../src/testing/issuer/ca.js"
import { signCertificateRequest } from "../../src/testing/issuer/sign.js"
import { generate, keySpec } from "../pki/support.js"

const pod: PodInfo = { name: "app-0", namespace: "sandbox", uid: "4a5b", serviceAccountName: "app-sa" }
const P = "csi.cert-manager.io/"
const sanOid = "2.5.29.17"

/** One of the values; "" leaves the attribute out. */
const oneOf = <const A extends ReadonlyArray<string>>(values: A) => Arbitrary.schema(Schema.Literals(values))

const volumes = Arbitrary.all({
  "common-name": oneOf(["", "app.example.com", "${POD_NAME}.${POD_NAMESPACE}"]),
  organizations: oneOf(["", "Acme", "Acme\\, Inc,Example"]),
  countries: oneOf(["", "DE"]),
  serialnumber: oneOf(["", "1234"]),
  "literal-subject": oneOf(["", "CN=literal,O=Acme", "O=Acme,C=DE", "UID=u1"]),
  "dns-names": oneOf(["", "a.example.com", "${POD_NAME}.svc,*.b.example"]),
  "ip-sans": oneOf(["", "10.0.0.1", "192.0.2.1,2001:db8::1"]),
  "uri-sans": oneOf(["", "spiffe://cluster.local/ns/${POD_NAMESPACE}/sa/${SERVICE_ACCOUNT_NAME}"]),
  "is-ca": oneOf(["", "true", "false"]),
  "key-usages": Arbitrary.map(Arbitrary.array(oneOf(KeyUsages), { maxLength: 5 }), (u) => u.join(",")),
})

const attributesOf = (volume: Record<string, string>): Record<string, string> => ({
  [`${P}issuer-name`]: "ca-issuer",
  [`${P}key-algorithm`]: "ECDSA",
  ...Object.fromEntries(
    Object.entries(volume)
      .filter(([, value]) => value !== "")
      .map(([key, value]) => [`${P}${key}`, value]),
  ),
})

/**
 * Java's X509CertImpl refuses a certificate (and so a keystore holding it) whose subject
 * is empty unless its SubjectAlternativeName extension is there and critical. cert-manager
 * marks it critical exactly then, so we check both directions.
 */
const sanCriticalIffSubjectEmpty = (what: string, subject: string, san: x509.Extension | null) => {
  if (subject === "") {
    assert.isNotNull(san, `${what}: an empty subject needs a SAN extension`)
    assert.isTrue(san?.critical, `${what}: SubjectAlternativeName extension MUST be marked critical`)
  } else if (san !== null) {
    assert.isFalse(san.critical, `${what}: the SAN extension is critical only for an empty subject`)
  }
}

const ca = await Effect.runPromise(generateCa())
const key = await generate(keySpec("ECDSA", 256, "PKCS8"))

describe("every certificate we can make", () => {
  it.effect.prop(
    "CSR and issued certificate pass Java's SAN rule; the webhook and the CA issuer accept the CSR",
    { volume: volumes },
    ({ volume }) =>
      Effect.gen(function* () {
        const decoded = decodeAttributes(attributesOf(volume), pod)
        if (Result.isFailure(decoded)) return true
        const spec = decoded.success
        const csrPem = yield* buildCsr(spec, key)
        const csr = new x509.Pkcs10CertificateRequest(csrPem)
        sanCriticalIffSubjectEmpty("CSR", csr.subject, csr.getExtension(sanOid))

        // what the driver sends, through cert-manager's webhook rule
        const crSpec = {
          request: Buffer.from(csrPem).toString("base64"),
          issuerRef: spec.issuerRef,
          isCA: spec.isCA,
          usages: [...requestUsages(spec.usages)],
        }
        assert.deepStrictEqual(csrCauses(crSpec), [])

        // and through cert-manager's CA issuer
        const issued = yield* signCertificateRequest(ca, {
          apiVersion: "cert-manager.io/v1",
          kind: "CertificateRequest",
          metadata: { name: "cr", namespace: pod.namespace },
          spec: crSpec,
        })
        const cert = new x509.X509Certificate(issued.certificatePem)
        sanCriticalIffSubjectEmpty("certificate", cert.subject, cert.getExtension(sanOid))
        const basic = cert.getExtension(x509.BasicConstraintsExtension)
        assert.strictEqual(basic?.ca, spec.isCA)
        const usages = cert.getExtension(x509.KeyUsagesExtension)
        if (spec.isCA) assert.isTrue(((usages?.usages ?? 0) & x509.KeyUsageFlags.keyCertSign) !== 0)
        return true
      }),
    { timeout: 120_000, arbitrary: { runs: 300 } },
  )
})

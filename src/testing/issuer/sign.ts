/**
 * What cert-manager's CA issuer does with a CertificateRequest's spec: decode the PEM CSR
 * from `spec.request`, check its signature, and issue a leaf with the CSR's subject and
 * SAN extension (criticality included), `spec.duration` (default 2160h), `spec.isCA` and
 * `spec.usages` (default digital signature + key encipherment; a CA also gets cert sign).
 * Usages or a CA flag the CSR asks for must equal the spec's, as cert-manager's
 * `CertificateTemplateFromCertificateRequest` checks. Anything wrong with the request is a
 * `SignFailure` whose message becomes the Failed condition's.
 */
import { Clock, Data, Duration, Effect, Result } from "effect"
import { parseGoDuration } from "../../attributes/duration.js"
import type { KeyUsage } from "../../attributes/spec.js"
import { pem } from "../../pki/der.js"
import { knownExtKeyUsages, usageNamesOf, type X509Usages, x509UsagesFor } from "../../pki/usages.js"
import { getPath, type KubeObject } from "../api-server/objects.js"
import { type CertificateAuthority, signLeaf } from "./ca.js"
import type { CertificateSigningRequest } from "./csr-reader.js"
import { verifyCsrSignature } from "./csr-signature.js"
import { parseRequest, requestedIsCA, requestedUsages } from "./csr-usages.js"

export type { CertificateSigningRequest, RequestedExtension } from "./csr-reader.js"

export class SignFailure extends Data.TaggedError("SignFailure")<{ readonly message: string }> {}

export interface Issued {
  /** base64 of the PEM chain (leaf, plus the CA when it is not a self-signed root). */
  readonly certificate: string
  /** base64 of the CA certificate PEM. */
  readonly ca: string
  readonly certificatePem: string
}

const defaultDurationMs = 2160 * 3_600_000
const subjectAltNameOid = "2.5.29.17"

const templateError = (why: string) =>
  new SignFailure({ message: `Error generating certificate template: ${why}` })

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64")

/** One PEM block ending in exactly one newline. */
const block = (text: string): string => `${text.trimEnd()}\n`

/** Decodes `spec.request` (base64 of a PEM CSR) and checks the CSR's signature. */
export const decodeCsr = (request: unknown): Effect.Effect<CertificateSigningRequest, SignFailure> =>
  Effect.gen(function* () {
    const parsed = parseRequest(request)
    if (Result.isFailure(parsed)) return yield* templateError(parsed.failure)
    const valid = yield* Effect.mapError(verifyCsrSignature(parsed.success), (e) =>
      templateError(`failed to verify csr signature: ${e.reason}`),
    )
    if (!valid) return yield* templateError("csr signature is invalid")
    return parsed.success
  })

/** Usage names as cert-manager prints them in these errors: `[ 'a', 'b' ]`, or `[]`. */
const printUsages = (names: ReadonlyArray<string>): string =>
  names.length === 0 ? "[]" : `[ ${names.map((n) => `'${n}'`).join(", ")} ]`

/**
 * What the CSR asks for must be what the spec gives: its CA flag, when it has
 * BasicConstraints; its usages, when it has KeyUsage or ExtendedKeyUsage (flags equal,
 * known EKU OIDs equal in order).
 */
const checkCsrAgainstSpec = (
  csr: CertificateSigningRequest,
  isCA: boolean,
  expected: X509Usages,
): Result.Result<void, string> =>
  Result.gen(function* () {
    const askedCA = yield* requestedIsCA(csr)
    if (askedCA !== undefined && askedCA !== isCA)
      return yield* Result.fail(`encoded CSR error: IsCA ${askedCA} does not match expected value ${isCA}`)
    const asked = yield* requestedUsages(csr)
    if (asked.keyUsage === undefined && asked.extKeyUsages === undefined) return
    const keyUsage = asked.keyUsage ?? 0
    if (keyUsage !== expected.keyUsage)
      return yield* Result.fail(
        `encoded CSR error: the KeyUsages ${printUsages(usageNamesOf(keyUsage, []))} do not match the expected KeyUsages ${printUsages(usageNamesOf(expected.keyUsage, []))}`,
      )
    const ext = knownExtKeyUsages(asked.extKeyUsages ?? [])
    if (ext.length !== expected.extKeyUsages.length || ext.some((oid, i) => oid !== expected.extKeyUsages[i]))
      return yield* Result.fail(
        `encoded CSR error: the ExtKeyUsages ${printUsages(usageNamesOf(0, ext))} do not match the expected ExtKeyUsages ${printUsages(usageNamesOf(0, expected.extKeyUsages))}`,
      )
  })

/** Issues the certificate a CertificateRequest asks for. */
export const signCertificateRequest = (
  ca: CertificateAuthority,
  cr: KubeObject,
): Effect.Effect<Issued, SignFailure> =>
  Effect.gen(function* () {
    const csr = yield* decodeCsr(getPath(cr, "spec.request"))
    const durationText = getPath(cr, "spec.duration")
    let durationMs = defaultDurationMs
    if (typeof durationText === "string" && durationText !== "") {
      const parsed = parseGoDuration(durationText)
      if (Result.isFailure(parsed)) {
        return yield* templateError(`invalid spec.duration ${JSON.stringify(durationText)}`)
      }
      durationMs = Duration.toMillis(parsed.success)
    }
    const isCA = getPath(cr, "spec.isCA") === true
    const requested = getPath(cr, "spec.usages")
    const usages = x509UsagesFor(Array.isArray(requested) ? (requested as ReadonlyArray<KeyUsage>) : [], isCA)
    const consistent = checkCsrAgainstSpec(csr, isCA, usages)
    if (Result.isFailure(consistent)) return yield* templateError(consistent.failure)
    // copied as requested, criticality included, as cert-manager's CA issuer copies it
    const san = csr.extensions.find((e) => e.oid === subjectAltNameOid)
    const now = yield* Clock.currentTimeMillis
    const leaf = yield* Effect.mapError(
      signLeaf(ca, {
        subject: csr.subject,
        subjectPublicKeyInfo: csr.subjectPublicKeyInfo,
        notBefore: new Date(now),
        notAfter: new Date(now + durationMs),
        isCA,
        keyUsages: usages.keyUsage,
        extKeyUsages: usages.extKeyUsages,
        ...(san === undefined ? {} : { subjectAltName: san.value, subjectAltNameCritical: san.critical }),
      }),
      (e) => new SignFailure({ message: `Error signing certificate: ${e.reason}` }),
    )
    const leafPem = block(pem("CERTIFICATE", leaf))
    const caPem = block(ca.certificatePem)
    const chain = ca.selfSigned ? leafPem : `${leafPem}${caPem}`
    return { certificate: b64(chain), ca: b64(caPem), certificatePem: leafPem }
  })

/** What the malformed issuer returns: PEM armour around bytes that are not a certificate. */
export const malformedCertificate = (): string =>
  b64("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")

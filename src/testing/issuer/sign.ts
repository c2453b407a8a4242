/**
 * What cert-manager's CA issuer does with a CertificateRequest's spec: decode the PEM CSR
 * from `spec.request`, check its signature, and issue a leaf with the CSR's subject and
 * SANs, `spec.duration` (default 2160h), `spec.isCA` and `spec.usages` (default digital
 * signature + key encipherment; a CA also gets cert sign). Anything wrong with the
 * request is a `SignFailure` whose message becomes the Failed condition's.
 */
import { Clock, Data, Duration, Effect, Result } from "effect"
import { parseGoDuration } from "../../attributes/duration.js"
import type { KeyUsage } from "../../attributes/spec.js"
import { pem } from "../../pki/der.js"
import { KeyUsageBits, toX509Usages } from "../../pki/usages.js"
import { getPath, type KubeObject } from "../api-server/objects.js"
import { type CertificateAuthority, signLeaf } from "./ca.js"
import { type CertificateSigningRequest, readCsr } from "./csr-reader.js"
import { verifyCsrSignature } from "./csr-signature.js"

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
const defaultUsages: ReadonlyArray<KeyUsage> = ["digital signature", "key encipherment"]
const subjectAltNameOid = "2.5.29.17"

const templateError = (why: string) =>
  new SignFailure({ message: `Error generating certificate template: ${why}` })

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64")

/** One PEM block ending in exactly one newline. */
const block = (text: string): string => `${text.trimEnd()}\n`

const csrPem =
  /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]+?)-----END (?:NEW )?CERTIFICATE REQUEST-----/

/** Decodes `spec.request` (base64 of a PEM CSR) and checks the CSR's signature. */
export const decodeCsr = (request: unknown): Effect.Effect<CertificateSigningRequest, SignFailure> =>
  Effect.gen(function* () {
    if (typeof request !== "string" || request === "") return yield* templateError("spec.request is empty")
    const text = Buffer.from(request, "base64").toString("utf8")
    const found = csrPem.exec(text)
    if (found === null) return yield* templateError("error decoding certificate request PEM block")
    const parsed = readCsr(new Uint8Array(Buffer.from(found[1]!, "base64")))
    if (Result.isFailure(parsed)) return yield* templateError(`failed to parse csr: ${parsed.failure}`)
    const valid = yield* Effect.mapError(verifyCsrSignature(parsed.success), (e) =>
      templateError(`failed to verify csr signature: ${e.reason}`),
    )
    if (!valid) return yield* templateError("csr signature is invalid")
    return parsed.success
  })

const keyUsageFlags = (
  usages: ReadonlyArray<KeyUsage>,
  isCA: boolean,
): { flags: number; ext: ReadonlyArray<string> } => {
  const { keyUsages, extKeyUsages } = toX509Usages(usages)
  let flags = 0
  for (const bit of keyUsages) flags |= 1 << KeyUsageBits[bit]
  if (isCA) flags |= 1 << KeyUsageBits.keyCertSign
  return { flags, ext: extKeyUsages }
}

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
    const usages =
      Array.isArray(requested) && requested.length > 0
        ? (requested as ReadonlyArray<KeyUsage>)
        : defaultUsages
    const { flags, ext } = keyUsageFlags(usages, isCA)
    const san = csr.extensions.find((e) => e.oid === subjectAltNameOid)
    const now = yield* Clock.currentTimeMillis
    const leaf = yield* Effect.mapError(
      signLeaf(ca, {
        subject: csr.subject,
        subjectPublicKeyInfo: csr.subjectPublicKeyInfo,
        notBefore: new Date(now),
        notAfter: new Date(now + durationMs),
        isCA,
        keyUsages: flags,
        extKeyUsages: ext,
        ...(san === undefined
          ? {}
          : { subjectAltName: san.value, subjectAltNameCritical: csr.subjectIsEmpty }),
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

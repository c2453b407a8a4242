/**
 * Checks what an issuer returned before anything is written to the pod: the
 * certificate (and any chain after it) must be parsable PEM, the leaf must carry
 * our key's public key, and the CA bundle, when there is one, must parse too.
 */
import * as crypto from "node:crypto"
import { Effect } from "effect"
import { CertificateInvalid } from "./errors.js"
import type { PrivateKey } from "./keys.js"

export interface IssuedCertificate {
  /** As the issuer returned it: the leaf first, then any chain. */
  readonly certificatePem: string
  /** As the issuer returned it; "" when the issuer sent no CA. */
  readonly caPem: string
  readonly notBefore: Date
  readonly notAfter: Date
  /** Upper-case hex, as OpenSSL prints it. */
  readonly serialNumber: string
  /** RFC 4514 order (most specific first), like Go's `pkix.Name.String()`. */
  readonly subject: string
}

const certificateBlock = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

/** Every CERTIFICATE block in a PEM text, parsed; undefined if there is none or one fails. */
const parseBlocks = (pem: string): ReadonlyArray<crypto.X509Certificate> | undefined => {
  const blocks = pem.match(certificateBlock) ?? []
  if (blocks.length === 0) return undefined
  const parsed: Array<crypto.X509Certificate> = []
  for (const block of blocks) {
    const cert = parseCertificate(block)
    if (cert === undefined) return undefined
    parsed.push(cert)
  }
  return parsed
}

// Adapter: the X509Certificate constructor throws on anything it cannot read.
const parseCertificate = (block: string): crypto.X509Certificate | undefined => {
  try {
    return new crypto.X509Certificate(block)
  } catch {
    return undefined
  }
}

/** Does the certificate carry the public half of this private key? (OpenSSL's own check, no re-encoding.) */
export const publicKeyMatches = (certificate: crypto.X509Certificate, key: PrivateKey): boolean =>
  certificate.checkPrivateKey(key.keyObject)

/** Node prints a subject one RDN per line in DER order, multi-valued ones joined by " + "; an empty subject is undefined. */
const rfc4514 = (nodeSubject: string | undefined): string =>
  (nodeSubject ?? "")
    .split("\n")
    .filter((line) => line !== "")
    .reverse()
    .map((line) => line.replaceAll(" + ", "+"))
    .join(",")

const invalid = (reason: CertificateInvalid["reason"], message: string) =>
  Effect.fail(new CertificateInvalid({ reason, message }))

/** Validates an issued certificate against our key; never dies on malformed input. */
export const checkIssued = Effect.fn("checkIssued")(function* (
  certificatePem: string,
  caPem: string,
  key: PrivateKey,
) {
  if (certificatePem.trim() === "") return yield* invalid("Empty", "the issuer returned no certificate")
  const chain = parseBlocks(certificatePem)
  const leaf = chain?.[0]
  if (leaf === undefined) {
    return yield* invalid("Unparsable", "the issued certificate is not a parsable PEM certificate")
  }
  if (caPem.trim() !== "" && parseBlocks(caPem) === undefined) {
    return yield* invalid("CaUnparsable", "the issuer's CA is not a parsable PEM certificate bundle")
  }
  if (!publicKeyMatches(leaf, key)) {
    return yield* invalid(
      "PublicKeyMismatch",
      "the issued certificate's public key does not match the private key",
    )
  }
  return {
    certificatePem,
    caPem: caPem.trim() === "" ? "" : caPem,
    notBefore: leaf.validFromDate,
    notAfter: leaf.validToDate,
    serialNumber: leaf.serialNumber,
    subject: rfc4514(leaf.subject),
  } satisfies IssuedCertificate
})

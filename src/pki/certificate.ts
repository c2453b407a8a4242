/**
 * Checks what an issuer returned before anything is written to the pod, and
 * normalizes it. `status.certificate` must be one or more PEM CERTIFICATE blocks
 * and nothing else (whitespace aside), each exactly one DER certificate; the first
 * (the leaf) must carry our key's public key and be valid now, by Effect's Clock
 * (notBefore at most five minutes ahead, for clock skew); when `status.ca` is set
 * (CERTIFICATE blocks only too), the leaf must chain to one of its certificates
 * through the other certificates of `status.certificate`, in any order. What passes
 * is re-encoded: canonical base64, 64-character lines, one newline per block.
 */
import * as crypto from "node:crypto"
import { Clock, Duration, Effect, Result } from "effect"
import { RecentlyDecoded } from "../recently-decoded.js"
import { chainsTo } from "./chain.js"
import { CertificateInvalid } from "./errors.js"
import type { PrivateKey } from "./keys.js"
import { type PemBlock, type PemProblem, readPem, writePemBlock } from "./pem.js"

export interface IssuedCertificate {
  /** The leaf first, then any chain, as the issuer ordered them; normalized PEM. */
  readonly certificatePem: string
  /** Normalized PEM; "" when the issuer sent no CA. */
  readonly caPem: string
  readonly notBefore: Date
  readonly notAfter: Date
  /** Upper-case hex, as OpenSSL prints it. */
  readonly serialNumber: string
  /** RFC 4514 order (most specific first), like Go's `pkix.Name.String()`. */
  readonly subject: string
}

type Reason = CertificateInvalid["reason"]

/** A real chain has a handful; the bound keeps the chain search small on any input. */
export const maxCertificates = 32
/** How far ahead of our clock a notBefore may be: the issuer's clock may run a little fast. */
export const clockSkew = Duration.minutes(5)
/** Messages also carry the request's name and the issuer's; this leaves room for both within 2 KiB. */
const maxDetail = 1024

interface Parsed {
  readonly block: PemBlock
  readonly certificate: crypto.X509Certificate
}

interface Problem {
  readonly reason: Reason
  readonly message: string
}
const problem = (reason: Reason, message: string): Problem => ({ reason, message })

// Adapter: the X509Certificate constructor throws on anything it cannot read.
const parseDer = (der: Uint8Array): crypto.X509Certificate | undefined => {
  try {
    return new crypto.X509Certificate(der)
  } catch {
    return undefined
  }
}

const pemReason: Record<PemProblem["_tag"], Reason> = {
  Empty: "Empty",
  ExtraData: "ExtraData",
  TooManyBlocks: "TooManyCertificates",
  Malformed: "Unparsable",
}

/**
 * The certificates of one field. OpenSSL reads a certificate off the front of its
 * input and ignores what follows, and accepts some BER: the DER it would write back
 * must be the block's bytes exactly.
 */
const readCertificates = (
  text: string,
  field: string,
  reasonOf: (problem: Reason) => Reason,
): Result.Result<ReadonlyArray<Parsed>, Problem> => {
  const blocks = readPem(text, maxCertificates)
  if (Result.isFailure(blocks)) {
    return Result.fail(
      problem(reasonOf(pemReason[blocks.failure._tag]), `${field}: ${blocks.failure.message}`),
    )
  }
  const parsed: Array<Parsed> = []
  for (const [i, block] of blocks.success.entries()) {
    if (block.label !== "CERTIFICATE") {
      return Result.fail(
        problem(
          reasonOf("NotCertificate"),
          `${field}: PEM block ${i + 1} is ${JSON.stringify(block.label)}, not CERTIFICATE`,
        ),
      )
    }
    const certificate = parseDer(block.der)
    const der = block.der
    if (
      certificate === undefined ||
      !Buffer.from(der.buffer, der.byteOffset, der.byteLength).equals(certificate.raw)
    ) {
      return Result.fail(
        problem(
          reasonOf("Unparsable"),
          `${field}: PEM block ${i + 1} is not exactly one DER-encoded X.509 certificate`,
        ),
      )
    }
    parsed.push({ block, certificate })
  }
  return Result.succeed(parsed)
}

/** A `status.ca` as read: its certificates, and its normalized PEM. */
interface Anchors {
  readonly certificates: ReadonlyArray<crypto.X509Certificate>
  readonly normalized: string
}

const noAnchors: Anchors = { certificates: [], normalized: "" }

/**
 * `status.ca` texts read lately, by their exact text: an issuer sends the same CA with
 * every answer, and reading it again (PEM, parse, DER check, and for the chain check the
 * CA's public key, which the X509Certificate keeps once built) cost as much as the leaf.
 * Only texts that read well are kept. An entry is measured at 4 bytes per character of
 * its text: the key, the normalized PEM, and natively the certificates and their keys.
 */
export const recentAnchors = new RecentlyDecoded<Anchors>({
  entries: 16,
  bytes: 1024 * 1024,
  entryBytes: 128 * 1024,
})

const readAnchors = (caPem: string): Result.Result<Anchors, Problem> => {
  const recent = recentAnchors.get(caPem)
  if (recent !== undefined) return Result.succeed(recent.value)
  const cas = readCertificates(caPem, "status.ca", () => "CaUnparsable")
  if (Result.isFailure(cas)) return Result.fail(cas.failure)
  const anchors: Anchors = {
    certificates: cas.success.map((c) => c.certificate),
    normalized: normalized(cas.success),
  }
  recentAnchors.set(caPem, anchors, 4 * caPem.length)
  return Result.succeed(anchors)
}

/** Does the certificate carry the public half of this private key? (OpenSSL's own check, no re-encoding.) */
export const publicKeyMatches = (certificate: crypto.X509Certificate, key: PrivateKey): boolean => {
  // Adapter: OpenSSL may throw on a public key it cannot decode; that is no match either.
  try {
    return certificate.checkPrivateKey(key.keyObject)
  } catch {
    return false
  }
}

/** Node prints a subject one RDN per line in DER order, multi-valued ones joined by " + "; an empty subject is undefined. */
const rfc4514 = (nodeSubject: string | undefined): string =>
  (nodeSubject ?? "")
    .split("\n")
    .filter((line) => line !== "")
    .reverse()
    .map((line) => line.replaceAll(" + ", "+"))
    .join(",")

/** A name for messages: quoted, and cut, since an issuer's DN can be any length. */
const quoteName = (nodeName: string | undefined): string => {
  const name = rfc4514(nodeName)
  return JSON.stringify(name.length > 128 ? `${name.slice(0, 128)}…` : name)
}

const bounded = (message: string) =>
  message.length > maxDetail ? `${message.slice(0, maxDetail)}…` : message

const normalized = (chain: ReadonlyArray<Parsed>) => chain.map((c) => writePemBlock(c.block)).join("")

const untrusted = (
  leaf: crypto.X509Certificate,
  intermediates: number,
  cas: ReadonlyArray<crypto.X509Certificate>,
) => {
  const shown = cas.slice(0, 3).map((ca) => quoteName(ca.subject))
  const more = cas.length > shown.length ? ` and ${cas.length - shown.length} more` : ""
  const via =
    intermediates === 0
      ? ""
      : ` through the ${intermediates === 1 ? "other certificate" : `${intermediates} other certificates`} of status.certificate`
  return problem(
    "UntrustedChain",
    `the certificate (issuer ${quoteName(leaf.issuer)}) does not chain${via} to a certificate of status.ca (${shown.join(", ")}${more})`,
  )
}

const iso = (millis: number) => new Date(millis).toISOString()

/** The whole check, on the time `now`; a Problem says what is wrong. */
const check = (
  certificatePem: string,
  caPem: string,
  key: PrivateKey,
  now: number,
): Result.Result<IssuedCertificate, Problem> => {
  if (certificatePem.trim() === "") {
    return Result.fail(problem("Empty", "the issuer returned no certificate (status.certificate is empty)"))
  }
  const chain = readCertificates(certificatePem, "status.certificate", (reason) => reason)
  if (Result.isFailure(chain)) return Result.fail(chain.failure)
  const hasCa = caPem.trim() !== ""
  const cas = hasCa ? readAnchors(caPem) : Result.succeed(noAnchors)
  if (Result.isFailure(cas)) return Result.fail(cas.failure)
  const [leaf, ...intermediates] = chain.success
  if (leaf === undefined) return Result.fail(problem("Empty", "status.certificate has no certificate"))
  const certificate = leaf.certificate
  if (!publicKeyMatches(certificate, key)) {
    return Result.fail(
      problem("PublicKeyMismatch", "the issued certificate's public key does not match the private key"),
    )
  }
  const notBefore = certificate.validFromDate.getTime()
  const notAfter = certificate.validToDate.getTime()
  if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) {
    return Result.fail(problem("Unparsable", "the certificate's validity dates cannot be read"))
  }
  if (notAfter <= now) {
    return Result.fail(problem("Expired", `the certificate expired at ${iso(notAfter)} (now: ${iso(now)})`))
  }
  if (notBefore > now + Duration.toMillis(clockSkew)) {
    return Result.fail(
      problem(
        "NotYetValid",
        `the certificate is not valid before ${iso(notBefore)}, more than ${Duration.toMillis(clockSkew) / 60_000} minutes after now (${iso(now)}); check the issuer's clock`,
      ),
    )
  }
  const anchors = cas.success.certificates
  if (
    hasCa &&
    !chainsTo(
      certificate,
      intermediates.map((c) => c.certificate),
      anchors,
    )
  ) {
    return Result.fail(untrusted(certificate, intermediates.length, anchors))
  }
  return Result.succeed({
    certificatePem: normalized(chain.success),
    caPem: cas.success.normalized,
    notBefore: certificate.validFromDate,
    notAfter: certificate.validToDate,
    serialNumber: certificate.serialNumber,
    subject: rfc4514(certificate.subject),
  })
}

/** Validates and normalizes an issued certificate for our key; never dies on malformed input. */
export const checkIssued = Effect.fnUntraced(function* (
  certificatePem: string,
  caPem: string,
  key: PrivateKey,
) {
  const now = yield* Clock.currentTimeMillis
  const result = check(certificatePem, caPem, key, now)
  if (Result.isSuccess(result)) return result.success
  return yield* new CertificateInvalid({
    reason: result.failure.reason,
    message: bounded(result.failure.message),
  })
})

/**
 * Builds the PKCS#10 certificate signing request sent in a CertificateRequest:
 * subject, SANs and usages from the spec, signed with the pod's key. The extensions are
 * the ones cert-manager's own `GenerateCSR` writes for the same spec (SAN, KeyUsage,
 * ExtendedKeyUsage, and BasicConstraints CA:TRUE for a CA), so its webhook and its CA
 * issuer, which compare the CSR's usages with `spec.usages` and `spec.isCA`, accept it.
 *
 * The whole RFC 2986 structure is encoded with our own DER encoder and signed with
 * `crypto.sign` on libuv's thread pool: a schema-driven ASN.1 library and WebCrypto
 * key import cost several milliseconds of event-loop time per CSR.
 */
import * as crypto from "node:crypto"
import { Effect, Result } from "effect"
import type { CertificateSpec } from "../attributes/spec.js"
import * as Der from "./der.js"
import { CsrError } from "./errors.js"
import type { PrivateKey } from "./keys.js"
import { subjectFromFields, subjectFromLiteral } from "./subject.js"
import { requestUsages, x509UsagesFor } from "./usages.js"

const ExtensionOids = {
  subjectAltName: "2.5.29.17",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  basicConstraints: "2.5.29.19",
} as const

/** PKCS#9 extensionRequest: the attribute that carries the requested extensions. */
const extensionRequestOid = "1.2.840.113549.1.9.14"

/** An IP address as the 4 or 16 bytes of a SAN iPAddress; IPv4-mapped IPv6 becomes 4 bytes, as in Go. */
export const ipAddressBytes = (text: string): Uint8Array | undefined => {
  const v4 = (s: string): Array<number> | undefined => {
    const parts = s.split(".")
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) {
      return undefined
    }
    return parts.map(Number)
  }
  const asV4 = v4(text)
  if (asV4 !== undefined) return Uint8Array.from(asV4)
  const halves = text.split("::")
  if (halves.length > 2 || !/^[0-9A-Fa-f:.]+$/.test(text)) return undefined
  const groups = (s: string): Array<number> | undefined => {
    if (s === "") return []
    const out: Array<number> = []
    const parts = s.split(":")
    for (const [index, part] of parts.entries()) {
      const tail = index === parts.length - 1 ? v4(part) : undefined
      if (tail !== undefined) out.push((tail[0]! << 8) | tail[1]!, (tail[2]! << 8) | tail[3]!)
      else if (/^[0-9A-Fa-f]{1,4}$/.test(part)) out.push(Number.parseInt(part, 16))
      else return undefined
    }
    return out
  }
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  if (head === undefined || tail === undefined) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  const words = [...head, ...Array<number>(missing).fill(0), ...tail]
  const bytes = Uint8Array.from(words.flatMap((w) => [w >> 8, w & 0xff]))
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff
  return mapped ? bytes.slice(12) : bytes
}

const utf8 = new TextEncoder()

/** SubjectAltName in Go's order (DNS, IP, URI); undefined when there are none. */
const subjectAltName = (spec: CertificateSpec): Result.Result<Uint8Array | undefined, CsrError> => {
  const names: Array<Uint8Array> = spec.dnsNames.map((dns) => Der.implicitPrimitive(2, utf8.encode(dns)))
  for (const ip of spec.ipAddresses) {
    const bytes = ipAddressBytes(ip)
    if (bytes === undefined) {
      return Result.fail(new CsrError({ reason: "InvalidSan", message: `"${ip}" is not an IP address` }))
    }
    names.push(Der.implicitPrimitive(7, bytes))
  }
  for (const uri of spec.uris) {
    if (!URL.canParse(uri))
      return Result.fail(new CsrError({ reason: "InvalidSan", message: `"${uri}" is not a URI` }))
    names.push(Der.implicitPrimitive(6, utf8.encode(uri)))
  }
  return Result.succeed(names.length === 0 ? undefined : Der.sequence(...names))
}

/** An empty Name (an RDNSequence with no RDNs) encodes as an empty SEQUENCE. */
const isEmptyName = (name: Uint8Array): boolean => name.length === 2 && name[0] === 0x30 && name[1] === 0

/**
 * The requested extensions in cert-manager's order: SAN, KU, EKU, BasicConstraints. The
 * SAN extension is critical when the subject is empty (RFC 5280 §4.2.1.6): issuers copy it
 * into the certificate, and strict readers (Java's keytool) refuse a certificate with an
 * empty subject and a non-critical SAN. Usages are built from the `spec.usages` we send.
 */
const extensions = (spec: CertificateSpec, subject: Uint8Array): Result.Result<Array<Uint8Array>, CsrError> =>
  Result.map(subjectAltName(spec), (san) => {
    const out: Array<Uint8Array> = []
    if (san !== undefined) out.push(Der.extension(ExtensionOids.subjectAltName, isEmptyName(subject), san))
    const usages = x509UsagesFor(requestUsages(spec.usages), spec.isCA)
    if (usages.keyUsage !== 0) {
      out.push(Der.extension(ExtensionOids.keyUsage, true, Der.namedBits(usages.keyUsage)))
    }
    if (usages.extKeyUsages.length > 0) {
      const value = Der.sequence(...usages.extKeyUsages.map(Der.oid))
      out.push(Der.extension(ExtensionOids.extKeyUsage, false, value))
    }
    // cert-manager writes none for a leaf by default; its CA issuer checks CA:TRUE against spec.isCA
    if (spec.isCA) {
      out.push(Der.extension(ExtensionOids.basicConstraints, true, Der.sequence(Der.boolean(true))))
    }
    return out
  })

/** The `[0] IMPLICIT SET OF Attribute`: empty (A0 00) without extensions, as Go emits it. */
const attributes = (exts: ReadonlyArray<Uint8Array>): Uint8Array =>
  exts.length === 0
    ? Der.tlv(0xa0, new Uint8Array(0))
    : Der.tlv(0xa0, Der.sequence(Der.oid(extensionRequestOid), Der.setOf([Der.sequence(...exts)])))

/** The digest for `crypto.sign` and the signature AlgorithmIdentifier, as Go's x509 picks them. */
const signatureAlgorithm = (key: PrivateKey): { readonly hash: string | null; readonly id: Uint8Array } => {
  switch (key.spec.algorithm) {
    case "RSA":
      return { hash: "sha256", id: Der.algorithm("1.2.840.113549.1.1.11", Der.nullValue()) }
    case "ECDSA":
      switch (key.spec.size) {
        case 384:
          return { hash: "sha384", id: Der.algorithm("1.2.840.10045.4.3.3") }
        case 521:
          return { hash: "sha512", id: Der.algorithm("1.2.840.10045.4.3.4") }
        default:
          return { hash: "sha256", id: Der.algorithm("1.2.840.10045.4.3.2") }
      }
    case "Ed25519":
      return { hash: null, id: Der.algorithm("1.3.101.112") }
  }
}

const signingFailed = (cause: unknown) =>
  new CsrError({
    reason: "SigningFailed",
    message: `signing the CSR failed: ${cause instanceof Error ? cause.message : "unknown error"}`,
  })

// RSA signs on libuv's thread pool (milliseconds); ECDSA and Ed25519 sign in place, in less
// time than the trip to the pool costs. ECDSA signatures come back DER-encoded, as X.509 wants.
const sign = (
  hash: string | null,
  data: Uint8Array,
  key: crypto.KeyObject,
): Effect.Effect<Uint8Array, CsrError> =>
  key.asymmetricKeyType === "rsa"
    ? Effect.callback<Uint8Array, CsrError>((resume) => {
        try {
          crypto.sign(hash, data, key, (err, signature) =>
            resume(err === null ? Effect.succeed(signature) : Effect.fail(signingFailed(err))),
          )
        } catch (cause) {
          resume(Effect.fail(signingFailed(cause)))
        }
      })
    : Effect.try({ try: () => crypto.sign(hash, data, key), catch: signingFailed })

const subjectName = (spec: CertificateSpec): Result.Result<Uint8Array, CsrError> =>
  spec.literalSubject === undefined
    ? Result.succeed(subjectFromFields(spec.subject))
    : Result.mapError(
        subjectFromLiteral(spec.literalSubject),
        (why) => new CsrError({ reason: "InvalidSubject", message: `literal subject is invalid: ${why}` }),
      )

const subjectPublicKeyInfo = (key: PrivateKey): Effect.Effect<Uint8Array, CsrError> =>
  key.spki !== undefined
    ? Effect.succeed(key.spki)
    : Effect.try({
        try: () => crypto.createPublicKey(key.keyObject).export({ type: "spki", format: "der" }),
        catch: signingFailed,
      })

/** Builds a PEM CSR for the spec, signed with the key. */
export const buildCsr = Effect.fnUntraced(function* (spec: CertificateSpec, key: PrivateKey) {
  const name = yield* Effect.fromResult(subjectName(spec))
  const exts = yield* Effect.fromResult(extensions(spec, name))
  const spki = yield* subjectPublicKeyInfo(key)
  const info = Der.sequence(Der.integer(0), name, spki, attributes(exts))
  const { hash, id } = signatureAlgorithm(key)
  const signature = yield* sign(hash, info, key.keyObject)
  return Der.pem("CERTIFICATE REQUEST", Der.sequence(info, id, Der.bitString(signature, 0)))
})

/**
 * Checks a CSR's self-signature with node's crypto on the libuv threadpool: maps the
 * signature AlgorithmIdentifier to a digest (and PSS options), insists that the key's
 * type fits the algorithm, as Go's x509 does. Like Go, SHA-1 is accepted on a CSR (it only
 * proves possession of the key) except with RSASSA-PSS; unknown algorithms are unsupported.
 */
import { constants, createPublicKey, type KeyObject, verify } from "node:crypto"
import { Data, Effect } from "effect"
import type { CertificateSigningRequest } from "./csr-reader.js"
import { childrenOf, readOid, readSmallInteger, readWhole, Tag, type Tlv } from "./der-reader.js"

export class CsrSignatureError extends Data.TaggedError("CsrSignatureError")<{ readonly reason: string }> {}

interface VerifyWith {
  /** node's digest name; null for EdDSA, which hashes internally. */
  readonly hash: string | null
  /** asymmetricKeyType values the algorithm can be used with. */
  readonly keyTypes: ReadonlyArray<string>
  readonly pssSaltLength?: number
}

const rsa = ["rsa"]
const ec = ["ec"]

const algorithms = new Map<string, VerifyWith>([
  ["1.2.840.113549.1.1.5", { hash: "sha1", keyTypes: rsa }],
  ["1.2.840.113549.1.1.11", { hash: "sha256", keyTypes: rsa }],
  ["1.2.840.113549.1.1.12", { hash: "sha384", keyTypes: rsa }],
  ["1.2.840.113549.1.1.13", { hash: "sha512", keyTypes: rsa }],
  ["1.2.840.10045.4.1", { hash: "sha1", keyTypes: ec }],
  ["1.2.840.10045.4.3.2", { hash: "sha256", keyTypes: ec }],
  ["1.2.840.10045.4.3.3", { hash: "sha384", keyTypes: ec }],
  ["1.2.840.10045.4.3.4", { hash: "sha512", keyTypes: ec }],
  ["1.3.101.112", { hash: null, keyTypes: ["ed25519"] }],
  ["1.3.101.113", { hash: null, keyTypes: ["ed448"] }],
])

const rsassaPss = "1.2.840.113549.1.1.10"
const mgf1 = "1.2.840.113549.1.1.8"
const pssHashes = new Map<string, string>([
  ["2.16.840.1.101.3.4.2.1", "sha256"],
  ["2.16.840.1.101.3.4.2.2", "sha384"],
  ["2.16.840.1.101.3.4.2.3", "sha512"],
])

/** The OID inside an AlgorithmIdentifier TLV, and its parameters' TLV. */
const algorithmOf = (der: Uint8Array, tlv: Tlv | undefined): { oid: string; params?: Tlv } | undefined => {
  const parts = tlv?.tag === Tag.sequence ? childrenOf(der, tlv) : undefined
  const oid = readOid(der, parts?.[0])
  if (parts === undefined || oid === undefined || parts.length > 2) return undefined
  return parts[1] === undefined ? { oid } : { oid, params: parts[1] }
}

/**
 * RSASSA-PSS-params (RFC 4055): hash and MGF1 hash must be one of SHA-256/384/512 and the
 * same (node's MGF1 uses the signature's digest); the defaults (SHA-1) are unsupported.
 */
const pssParameters = (params: Uint8Array | undefined): VerifyWith | string => {
  const outer = params === undefined ? undefined : readWhole(params)
  const fields = outer?.tag === Tag.sequence ? childrenOf(params!, outer) : undefined
  if (params === undefined || fields === undefined)
    return "RSASSA-PSS without parameters (SHA-1) is unsupported"
  let hash: string | undefined
  let mgfHash: string | undefined
  let saltLength = 20
  for (const field of fields) {
    const inner = childrenOf(params, field)
    if (inner === undefined || inner.length !== 1) return "malformed RSASSA-PSS parameters"
    if (field.tag === 0xa0) hash = pssHashes.get(algorithmOf(params, inner[0])?.oid ?? "")
    else if (field.tag === 0xa1) {
      const mgf = algorithmOf(params, inner[0])
      if (mgf?.oid !== mgf1) return "RSASSA-PSS with a mask generation function other than MGF1"
      mgfHash = pssHashes.get(algorithmOf(params, mgf.params)?.oid ?? "")
    } else if (field.tag === 0xa2) {
      const salt = readSmallInteger(params, inner[0])
      if (salt === undefined) return "malformed RSASSA-PSS salt length"
      saltLength = salt
    } else if (field.tag === 0xa3) {
      if (readSmallInteger(params, inner[0]) !== 1) return "unsupported RSASSA-PSS trailer field"
    } else return "malformed RSASSA-PSS parameters"
  }
  if (hash === undefined || mgfHash !== hash)
    return "RSASSA-PSS is supported with SHA-256, SHA-384 or SHA-512 (and MGF1 with the same hash) only"
  return { hash, keyTypes: ["rsa", "rsa-pss"], pssSaltLength: saltLength }
}

const verifyWith = (csr: CertificateSigningRequest): VerifyWith | string =>
  csr.signatureAlgorithm === rsassaPss
    ? pssParameters(csr.signatureParameters)
    : (algorithms.get(csr.signatureAlgorithm) ?? `unsupported signature algorithm ${csr.signatureAlgorithm}`)

/** Does the CSR's signature verify with its own public key? */
export const verifyCsrSignature = (
  csr: CertificateSigningRequest,
): Effect.Effect<boolean, CsrSignatureError> =>
  Effect.callback<boolean, CsrSignatureError>((resume) => {
    const how = verifyWith(csr)
    if (typeof how === "string") return resume(Effect.fail(new CsrSignatureError({ reason: how })))
    let key: KeyObject
    try {
      key = createPublicKey({ key: Buffer.from(csr.subjectPublicKeyInfo), format: "der", type: "spki" })
    } catch {
      return resume(Effect.fail(new CsrSignatureError({ reason: "unreadable public key" })))
    }
    const keyType = key.asymmetricKeyType ?? "unknown"
    if (!how.keyTypes.includes(keyType)) {
      return resume(
        Effect.fail(
          new CsrSignatureError({
            reason: `signature algorithm ${csr.signatureAlgorithm} does not fit a ${keyType} key`,
          }),
        ),
      )
    }
    const keyInput =
      how.pssSaltLength === undefined
        ? key
        : { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: how.pssSaltLength }
    try {
      verify(how.hash, csr.info, keyInput, csr.signature, (error, valid) =>
        resume(
          error === null
            ? Effect.succeed(valid)
            : Effect.fail(new CsrSignatureError({ reason: error.message })),
        ),
      )
    } catch (error) {
      resume(
        Effect.fail(
          new CsrSignatureError({ reason: error instanceof Error ? error.message : String(error) }),
        ),
      )
    }
  })

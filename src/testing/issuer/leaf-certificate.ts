/**
 * Encodes and signs the certificates the sandbox CA issues, straight to DER: the subject
 * and public key are copied verbatim from the request, the issuer Name from the CA
 * certificate, and the extensions are the set cert-manager's CA issuer gives a leaf, the
 * SAN extension as the request has it.
 * Signing runs on node's threadpool.
 */
import { type KeyObject, randomBytes, sign } from "node:crypto"
import { Data, Effect } from "effect"
import {
  bitString,
  explicit,
  extension,
  implicitPrimitive,
  integer,
  namedBits,
  octetString,
  oid,
  sequence,
} from "../../pki/der.js"
import { keyIdentifier } from "./certificate-reader.js"
import { time, unsignedInteger } from "./der-writer.js"

export class LeafSigningError extends Data.TaggedError("LeafSigningError")<{
  readonly reason: string
  readonly cause?: unknown
}> {}

/** What signing under a CA needs, worked out once when the CA is loaded. */
export interface CaSigner {
  readonly key: KeyObject
  /** node's digest name for `crypto.sign`; null for EdDSA. */
  readonly hash: string | null
  /** The signature AlgorithmIdentifier, complete. */
  readonly algorithm: Uint8Array
  /** The CA certificate's subject Name, complete and verbatim. */
  readonly issuer: Uint8Array
  /** The CA's key identifier, for leaves' AuthorityKeyIdentifier. */
  readonly keyIdentifier: Uint8Array
  /** Leaves never outlive the CA. */
  readonly notAfter: Date
}

export interface LeafRequest {
  /** The subject Name, complete DER. */
  readonly subject: Uint8Array
  /** The SubjectPublicKeyInfo, complete DER. */
  readonly subjectPublicKeyInfo: Uint8Array
  readonly notBefore: Date
  readonly notAfter: Date
  readonly isCA: boolean
  /** KeyUsage bits: bit n is RFC 5280's bit n (digitalSignature = 1 << 0). */
  readonly keyUsages: number
  readonly extKeyUsages: ReadonlyArray<string>
  /** The subjectAltName extension value (DER), copied from a CSR; absent for none. */
  readonly subjectAltName?: Uint8Array
  /** The criticality the CSR asked for (RFC 5280 wants it critical when the subject is empty). */
  readonly subjectAltNameCritical?: boolean
}

const v3 = explicit(0, integer(2))
const basicConstraintsCA = sequence(Uint8Array.of(0x01, 0x01, 0xff))
const basicConstraintsLeaf = sequence()
const ekuOids = new Map<string, Uint8Array>()
const ekuOid = (dotted: string): Uint8Array => {
  let encoded = ekuOids.get(dotted)
  if (encoded === undefined) {
    encoded = oid(dotted)
    ekuOids.set(dotted, encoded)
  }
  return encoded
}

/** A fresh positive 128-bit serial number. */
const serialNumber = (): Uint8Array => {
  const bytes = randomBytes(16)
  bytes[0] = bytes[0]! & 0x7f
  return unsignedInteger(bytes)
}

/** The leaf's extensions, in the order (and with the criticality) the issuer has always used. */
const extensions = (ca: CaSigner, req: LeafRequest, subjectKeyId: Uint8Array): Uint8Array => {
  const list: Array<Uint8Array> = [
    extension("2.5.29.19", true, req.isCA ? basicConstraintsCA : basicConstraintsLeaf),
  ]
  if (req.keyUsages !== 0) list.push(extension("2.5.29.15", true, namedBits(req.keyUsages)))
  if (req.extKeyUsages.length > 0)
    list.push(extension("2.5.29.37", false, sequence(...req.extKeyUsages.map(ekuOid))))
  if (req.subjectAltName !== undefined)
    list.push(extension("2.5.29.17", req.subjectAltNameCritical ?? false, req.subjectAltName))
  list.push(extension("2.5.29.14", false, octetString(subjectKeyId)))
  list.push(extension("2.5.29.35", false, sequence(implicitPrimitive(0, ca.keyIdentifier))))
  return explicit(3, sequence(...list))
}

/** The TBSCertificate; undefined when the public key is not a SubjectPublicKeyInfo. */
export const leafTbs = (ca: CaSigner, req: LeafRequest): Uint8Array | undefined => {
  const subjectKeyId = keyIdentifier(req.subjectPublicKeyInfo)
  if (subjectKeyId === undefined) return undefined
  const notAfter = req.notAfter.getTime() > ca.notAfter.getTime() ? ca.notAfter : req.notAfter
  return sequence(
    v3,
    serialNumber(),
    ca.algorithm,
    ca.issuer,
    sequence(time(req.notBefore), time(notAfter)),
    req.subject,
    req.subjectPublicKeyInfo,
    extensions(ca, req, subjectKeyId),
  )
}

/** node's `crypto.sign`, callback form (threadpool). */
const signBytes = (ca: CaSigner, data: Uint8Array): Effect.Effect<Uint8Array, LeafSigningError> =>
  Effect.callback<Uint8Array, LeafSigningError>((resume) => {
    try {
      sign(ca.hash, data, ca.key, (cause, signature) =>
        resume(
          cause === null
            ? Effect.succeed(signature)
            : Effect.fail(new LeafSigningError({ reason: "the CA key cannot sign", cause })),
        ),
      )
    } catch (cause) {
      resume(Effect.fail(new LeafSigningError({ reason: "the CA key cannot sign", cause })))
    }
  })

/** Issues a certificate under the CA: its DER. notAfter is capped at the CA's own. */
export const signLeafDer = (ca: CaSigner, req: LeafRequest): Effect.Effect<Uint8Array, LeafSigningError> =>
  Effect.suspend(() => {
    const tbs = leafTbs(ca, req)
    if (tbs === undefined)
      return Effect.fail(new LeafSigningError({ reason: "the public key is not a SubjectPublicKeyInfo" }))
    return Effect.map(signBytes(ca, tbs), (signature) => sequence(tbs, ca.algorithm, bitString(signature, 0)))
  })

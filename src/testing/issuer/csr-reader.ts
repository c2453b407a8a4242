/**
 * Reads a PKCS#10 CertificationRequest (RFC 2986) from DER: just what the sandbox issuer
 * copies into a certificate (the subject Name and SubjectPublicKeyInfo, raw) and what it
 * needs to check the request's signature. Requested extensions come from the
 * extensionRequest attribute (PKCS#9, 1.2.840.113549.1.9.14).
 */
import { Result } from "effect"
import {
  childrenOf,
  contentOf,
  contextConstructed,
  rawOf,
  readOctetAlignedBits,
  readOid,
  readSmallInteger,
  readWhole,
  Tag,
  type Tlv,
} from "./der-reader.js"

export interface RequestedExtension {
  readonly oid: string
  readonly critical: boolean
  /** extnValue's content: the extension's own DER. */
  readonly value: Uint8Array
}

/** What the issuer uses of a CSR; byte arrays are views into the CSR's DER. */
export interface CertificateSigningRequest {
  /** certificationRequestInfo, complete: the bytes the signature covers. */
  readonly info: Uint8Array
  /** The subject Name's complete encoding. */
  readonly subject: Uint8Array
  /** True for an empty RDNSequence (then the SANs are the only identity). */
  readonly subjectIsEmpty: boolean
  /** The SubjectPublicKeyInfo's complete encoding. */
  readonly subjectPublicKeyInfo: Uint8Array
  readonly extensions: ReadonlyArray<RequestedExtension>
  /** The signature AlgorithmIdentifier's OID and parameters (complete encoding, if any). */
  readonly signatureAlgorithm: string
  readonly signatureParameters: Uint8Array | undefined
  readonly signature: Uint8Array
}

const extensionRequest = "1.2.840.113549.1.9.14"

/** Extensions ::= SEQUENCE OF Extension, as found in an extensionRequest's value. */
const readExtensions = (der: Uint8Array, tlv: Tlv): ReadonlyArray<RequestedExtension> | undefined => {
  if (tlv.tag !== Tag.sequence) return undefined
  const items = childrenOf(der, tlv)
  if (items === undefined) return undefined
  const out: Array<RequestedExtension> = []
  for (const item of items) {
    const parts = item.tag === Tag.sequence ? childrenOf(der, item) : undefined
    if (parts === undefined || parts.length < 2 || parts.length > 3) return undefined
    const id = readOid(der, parts[0])
    const critical = parts.length === 3 ? parts[1]! : undefined
    const value = parts[parts.length - 1]!
    if (id === undefined || value.tag !== Tag.octetString) return undefined
    if (
      critical !== undefined &&
      (critical.tag !== Tag.boolean || critical.end - critical.contentStart !== 1)
    )
      return undefined
    out.push({
      oid: id,
      critical: critical !== undefined && der[critical.contentStart] !== 0,
      value: contentOf(der, value),
    })
  }
  return out
}

/** attributes [0] IMPLICIT SET OF Attribute: the requested extensions, if any. */
const readAttributes = (der: Uint8Array, tlv: Tlv): ReadonlyArray<RequestedExtension> | undefined => {
  const attributes = childrenOf(der, tlv)
  if (attributes === undefined) return undefined
  const out: Array<RequestedExtension> = []
  for (const attribute of attributes) {
    const parts = attribute.tag === Tag.sequence ? childrenOf(der, attribute) : undefined
    if (parts === undefined || parts.length !== 2 || parts[1]!.tag !== Tag.set) return undefined
    const type = readOid(der, parts[0])
    if (type === undefined) return undefined
    if (type !== extensionRequest) continue
    const values = childrenOf(der, parts[1]!)
    if (values === undefined) return undefined
    for (const value of values) {
      const extensions = readExtensions(der, value)
      if (extensions === undefined) return undefined
      out.push(...extensions)
    }
  }
  return out
}

/** Parses a DER CertificationRequest; a failure says which part is malformed. */
export const readCsr = (der: Uint8Array): Result.Result<CertificateSigningRequest, string> => {
  const outer = readWhole(der)
  const top = outer?.tag === Tag.sequence ? childrenOf(der, outer) : undefined
  if (top === undefined || top.length !== 3) return Result.fail("not a DER CertificationRequest")
  const [infoTlv, algorithmTlv, signatureTlv] = top as [Tlv, Tlv, Tlv]
  const info = infoTlv.tag === Tag.sequence ? childrenOf(der, infoTlv) : undefined
  if (info === undefined || info.length < 3 || info.length > 4)
    return Result.fail("malformed certificationRequestInfo")
  const [versionTlv, subjectTlv, spkiTlv, attributesTlv] = info as [Tlv, Tlv, Tlv, Tlv | undefined]
  if (readSmallInteger(der, versionTlv) !== 0) return Result.fail("unsupported CSR version")
  if (subjectTlv.tag !== Tag.sequence || childrenOf(der, subjectTlv) === undefined)
    return Result.fail("malformed subject")
  const spki = spkiTlv.tag === Tag.sequence ? childrenOf(der, spkiTlv) : undefined
  if (
    spki === undefined ||
    spki.length !== 2 ||
    spki[0]!.tag !== Tag.sequence ||
    spki[1]!.tag !== Tag.bitString
  )
    return Result.fail("malformed subjectPublicKeyInfo")
  let extensions: ReadonlyArray<RequestedExtension> = []
  if (attributesTlv !== undefined) {
    const read = attributesTlv.tag === contextConstructed(0) ? readAttributes(der, attributesTlv) : undefined
    if (read === undefined) return Result.fail("malformed attributes")
    extensions = read
  }
  const algorithm = algorithmTlv.tag === Tag.sequence ? childrenOf(der, algorithmTlv) : undefined
  const algorithmOid = readOid(der, algorithm?.[0])
  if (algorithm === undefined || algorithm.length > 2 || algorithmOid === undefined)
    return Result.fail("malformed signatureAlgorithm")
  const signature = readOctetAlignedBits(der, signatureTlv)
  if (signature === undefined) return Result.fail("malformed signature")
  return Result.succeed({
    info: rawOf(der, infoTlv),
    subject: rawOf(der, subjectTlv),
    subjectIsEmpty: subjectTlv.end === subjectTlv.contentStart,
    subjectPublicKeyInfo: rawOf(der, spkiTlv),
    extensions,
    signatureAlgorithm: algorithmOid,
    signatureParameters: algorithm[1] === undefined ? undefined : rawOf(der, algorithm[1]),
    signature,
  })
}

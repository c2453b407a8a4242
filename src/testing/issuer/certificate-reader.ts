/**
 * Reads from a DER X.509 certificate what signing under it needs: the subject Name's raw
 * encoding (a leaf's issuer must match it byte for byte), the public key, and the
 * SubjectKeyIdentifier (a leaf's AuthorityKeyIdentifier). Also computes RFC 5280
 * key identifiers.
 */
import { createHash } from "node:crypto"
import {
  childrenOf,
  contentOf,
  contextConstructed,
  rawOf,
  readOctetAlignedBits,
  readOid,
  readTlv,
  readWhole,
  Tag,
  type Tlv,
} from "./der-reader.js"

export interface CertificateFields {
  readonly subject: Uint8Array
  readonly subjectPublicKeyInfo: Uint8Array
  /** The SubjectKeyIdentifier extension's keyIdentifier, if the certificate has one. */
  readonly subjectKeyIdentifier: Uint8Array | undefined
}

const subjectKeyIdentifierOid = "2.5.29.14"

/** SubjectPublicKeyInfo's subjectPublicKey bits, without the unused-bits octet. */
export const subjectPublicKeyOf = (spki: Uint8Array): Uint8Array | undefined => {
  const outer = readWhole(spki)
  const parts = outer?.tag === Tag.sequence ? childrenOf(spki, outer) : undefined
  if (parts === undefined || parts.length !== 2 || parts[0]!.tag !== Tag.sequence) return undefined
  return readOctetAlignedBits(spki, parts[1])
}

/**
 * RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value, as
 * @peculiar/x509, openssl and Go compute it.
 */
export const keyIdentifier = (spki: Uint8Array): Uint8Array | undefined => {
  const key = subjectPublicKeyOf(spki)
  return key === undefined ? undefined : createHash("sha1").update(key).digest()
}

const findSubjectKeyIdentifier = (der: Uint8Array, extensions: Tlv): Uint8Array | undefined => {
  const list = childrenOf(der, extensions)
  if (list?.length !== 1 || list[0]!.tag !== Tag.sequence) return undefined
  for (const extension of childrenOf(der, list[0]!) ?? []) {
    const parts = childrenOf(der, extension)
    if (parts === undefined || readOid(der, parts[0]) !== subjectKeyIdentifierOid) continue
    const value = parts[parts.length - 1]!
    const inner = value.tag === Tag.octetString ? readTlv(der, value.contentStart, value.end) : undefined
    if (inner?.tag === Tag.octetString && inner.end === value.end) return contentOf(der, inner)
  }
  return undefined
}

/** The fields of a DER certificate; undefined when it is not one. */
export const readCertificate = (der: Uint8Array): CertificateFields | undefined => {
  const outer = readWhole(der)
  const top = outer?.tag === Tag.sequence ? childrenOf(der, outer) : undefined
  if (top === undefined || top.length !== 3 || top[0]!.tag !== Tag.sequence) return undefined
  const tbs = childrenOf(der, top[0]!)
  if (tbs === undefined) return undefined
  // version [0] EXPLICIT is absent for v1 certificates
  const at = tbs[0]?.tag === contextConstructed(0) ? 1 : 0
  const subject = tbs[at + 4]
  const spki = tbs[at + 5]
  if (subject?.tag !== Tag.sequence || spki?.tag !== Tag.sequence) return undefined
  const extensions = tbs.slice(at + 6).find((t) => t.tag === contextConstructed(3))
  return {
    subject: rawOf(der, subject),
    subjectPublicKeyInfo: rawOf(der, spki),
    subjectKeyIdentifier: extensions === undefined ? undefined : findSubjectKeyIdentifier(der, extensions),
  }
}

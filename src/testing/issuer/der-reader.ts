/**
 * A minimal DER (X.690) reader for the sandbox issuer: walks TLVs and hands back byte
 * offsets, so callers can copy a field's raw encoding (a subject Name, a public key)
 * verbatim instead of decoding and re-encoding it. Malformed input gives `undefined`,
 * never an exception: the issuer turns that into a failed CertificateRequest.
 */

/** One TLV found in a buffer: its identifier octet and where its parts lie. */
export interface Tlv {
  /** The first identifier octet (class, constructed bit and, for low tag numbers, the number). */
  readonly tag: number
  readonly start: number
  readonly contentStart: number
  readonly end: number
}

export const Tag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  sequence: 0x30,
  set: 0x31,
} as const

/** [n] context-specific, constructed (EXPLICIT, or IMPLICIT over a constructed type). */
export const contextConstructed = (n: number): number => 0xa0 | n

/** The TLV starting at `at`, which must end by `limit`. */
export const readTlv = (der: Uint8Array, at: number, limit: number = der.length): Tlv | undefined => {
  if (at >= limit) return undefined
  const tag = der[at]!
  let i = at + 1
  // high tag number form: skip the base-128 number (no tag we look for uses it)
  if ((tag & 0x1f) === 0x1f) {
    while (i < limit && (der[i]! & 0x80) !== 0) i++
    i++
  }
  if (i >= limit) return undefined
  const first = der[i++]!
  let length = first
  if (first >= 0x80) {
    const count = first & 0x7f
    // 0x80 is the indefinite form, which DER forbids; four octets are plenty here
    if (count === 0 || count > 4 || i + count > limit) return undefined
    length = 0
    for (let k = 0; k < count; k++) length = length * 256 + der[i++]!
  }
  const end = i + length
  if (end > limit) return undefined
  return { tag, start: at, contentStart: i, end }
}

/** The TLV that spans the whole buffer, and nothing after it. */
export const readWhole = (der: Uint8Array): Tlv | undefined => {
  const tlv = readTlv(der, 0)
  return tlv !== undefined && tlv.end === der.length ? tlv : undefined
}

/** The TLVs that make up a constructed value's content, which they must fill exactly. */
export const childrenOf = (der: Uint8Array, parent: Tlv): ReadonlyArray<Tlv> | undefined => {
  const out: Array<Tlv> = []
  let at = parent.contentStart
  while (at < parent.end) {
    const child = readTlv(der, at, parent.end)
    if (child === undefined) return undefined
    out.push(child)
    at = child.end
  }
  return out
}

/** The complete encoding (identifier, length and content). */
export const rawOf = (der: Uint8Array, tlv: Tlv): Uint8Array => der.subarray(tlv.start, tlv.end)

export const contentOf = (der: Uint8Array, tlv: Tlv): Uint8Array => der.subarray(tlv.contentStart, tlv.end)

/** An OBJECT IDENTIFIER's content in dotted form. */
export const oidText = (content: Uint8Array): string | undefined => {
  if (content.length === 0 || (content[content.length - 1]! & 0x80) !== 0) return undefined
  const arcs: Array<number> = []
  let value = 0
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f)
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) {
        const first = value < 80 ? Math.floor(value / 40) : 2
        arcs.push(first, value - first * 40)
      } else {
        arcs.push(value)
      }
      value = 0
    }
  }
  return arcs.join(".")
}

/** The dotted OID of an OBJECT IDENTIFIER TLV, or undefined when the TLV is something else. */
export const readOid = (der: Uint8Array, tlv: Tlv | undefined): string | undefined =>
  tlv === undefined || tlv.tag !== Tag.oid ? undefined : oidText(contentOf(der, tlv))

/** A BIT STRING's bits, when it has no unused bits (keys and signatures are whole octets). */
export const readOctetAlignedBits = (der: Uint8Array, tlv: Tlv | undefined): Uint8Array | undefined => {
  if (tlv === undefined || tlv.tag !== Tag.bitString || tlv.end - tlv.contentStart < 1) return undefined
  if (der[tlv.contentStart] !== 0) return undefined
  return der.subarray(tlv.contentStart + 1, tlv.end)
}

/** A small non-negative INTEGER (versions, salt lengths). */
export const readSmallInteger = (der: Uint8Array, tlv: Tlv | undefined): number | undefined => {
  if (tlv === undefined || tlv.tag !== Tag.integer) return undefined
  const length = tlv.end - tlv.contentStart
  if (length < 1 || length > 4 || (der[tlv.contentStart]! & 0x80) !== 0) return undefined
  let value = 0
  for (let i = tlv.contentStart; i < tlv.end; i++) value = value * 256 + der[i]!
  return value
}

/**
 * A minimal DER (X.690) encoder: just the types a CSR, a certificate's extensions, a
 * subject name and a PKCS#12 file need, and PEM armour. Encoding is all we do, so a few pure functions over
 * byte arrays beat pulling in a schema-driven ASN.1 library.
 */

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

const lengthOctets = (length: number): Uint8Array => {
  if (length < 0x80) return Uint8Array.of(length)
  const bytes: Array<number> = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256)
  return Uint8Array.of(0x80 | bytes.length, ...bytes)
}

/** One TLV with a single-byte identifier (enough for every tag we use). */
export const tlv = (tag: number, content: Uint8Array): Uint8Array =>
  concat([Uint8Array.of(tag), lengthOctets(content.length), content])

export const sequence = (...items: ReadonlyArray<Uint8Array>): Uint8Array => tlv(0x30, concat(items))

/** SET OF: DER wants the encoded elements in ascending byte order. */
export const setOf = (items: ReadonlyArray<Uint8Array>): Uint8Array =>
  tlv(0x31, concat([...items].sort(compareBytes)))

const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!
  }
  return a.length - b.length
}

export const boolean = (value: boolean): Uint8Array => tlv(0x01, Uint8Array.of(value ? 0xff : 0x00))

export const nullValue = (): Uint8Array => tlv(0x05, new Uint8Array(0))

/** A non-negative INTEGER. */
export const integer = (value: number): Uint8Array => {
  const bytes: Array<number> = []
  for (let n = value; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256)
  if (bytes.length === 0 || bytes[0]! >= 0x80) bytes.unshift(0)
  return tlv(0x02, Uint8Array.from(bytes))
}

export const octetString = (bytes: Uint8Array): Uint8Array => tlv(0x04, bytes)

export const bitString = (bytes: Uint8Array, unusedBits: number): Uint8Array =>
  tlv(0x03, concat([Uint8Array.of(unusedBits), bytes]))

/** An OBJECT IDENTIFIER from its dotted form, e.g. "1.2.840.113549.1.7.1". */
export const oid = (dotted: string): Uint8Array => {
  const arcs = dotted.split(".").map(Number)
  const base128 = (n: number): Array<number> => {
    const out = [n % 128]
    for (let rest = Math.floor(n / 128); rest > 0; rest = Math.floor(rest / 128))
      out.unshift(0x80 | (rest % 128))
    return out
  }
  const body = [...base128(arcs[0]! * 40 + arcs[1]!), ...arcs.slice(2).flatMap(base128)]
  return tlv(0x06, Uint8Array.from(body))
}

export const utf8String = (text: string): Uint8Array => tlv(0x0c, new TextEncoder().encode(text))
export const printableString = (text: string): Uint8Array => tlv(0x13, new TextEncoder().encode(text))
export const ia5String = (text: string): Uint8Array => tlv(0x16, new TextEncoder().encode(text))
export const bmpString = (bytes: Uint8Array): Uint8Array => tlv(0x1e, bytes)

/** [n] EXPLICIT: wraps a complete encoding. */
export const explicit = (n: number, inner: Uint8Array): Uint8Array => tlv(0xa0 | n, inner)

/** [n] IMPLICIT over a primitive type: replaces its tag, keeps its content. */
export const implicitPrimitive = (n: number, content: Uint8Array): Uint8Array => tlv(0x80 | n, content)

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL } */
export const algorithm = (dotted: string, parameters?: Uint8Array): Uint8Array =>
  parameters === undefined ? sequence(oid(dotted)) : sequence(oid(dotted), parameters)

/**
 * A BIT STRING of named bits (bit n of `flags` is the ASN.1 bit n): DER drops trailing
 * zero bits (X.690 11.2.2).
 */
export const namedBits = (flags: number): Uint8Array => {
  if (flags === 0) return tlv(0x03, Uint8Array.of(0))
  const highest = 31 - Math.clz32(flags)
  const octets = (highest >> 3) + 1
  const out = new Uint8Array(octets + 1)
  out[0] = octets * 8 - (highest + 1)
  for (let bit = 0; bit <= highest; bit++) {
    if ((flags & (1 << bit)) !== 0) out[1 + (bit >> 3)]! |= 0x80 >> (bit & 7)
  }
  return tlv(0x03, out)
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } */
export const extension = (dotted: string, critical: boolean, value: Uint8Array): Uint8Array =>
  critical
    ? sequence(oid(dotted), boolean(true), octetString(value))
    : sequence(oid(dotted), octetString(value))

/** PEM armour with 64-character lines, without a final newline. */
export const pem = (label: string, der: Uint8Array): string => {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64")
  const lines: Array<string> = []
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64))
  return [`-----BEGIN ${label}-----`, ...lines, `-----END ${label}-----`].join("\n")
}

export { concat }

/**
 * A minimal DER (X.690) encoder: just the types a CSR, a certificate's extensions, a
 * subject name and a PKCS#12 file need, and PEM armour. Encoding is all we do, so a few pure functions over
 * byte arrays beat pulling in a schema-driven ASN.1 library.
 */

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/*
 * Each TLV is one allocation: its header is written in front of its content in the
 * array that holds both. A CSR is ~40 TLVs; building each from a tag array, a length
 * array and a concatenation made four times the arrays (most of a publish's DER garbage).
 */

/** Bytes of the identifier and length octets before `length` bytes of content. */
const headerLength = (length: number): number => {
  if (length < 0x80) return 2
  let octets = 0
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets++
  return 2 + octets
}

/** Writes the identifier and the length octets (X.690 8.1.3, definite and minimal) at the start of `out`. */
const writeHeader = (out: Uint8Array, tag: number, length: number): number => {
  out[0] = tag
  const header = headerLength(length)
  if (header === 2) {
    out[1] = length
    return 2
  }
  out[1] = 0x80 | (header - 2)
  for (let i = header - 1, n = length; i >= 2; i--, n = Math.floor(n / 256)) out[i] = n % 256
  return header
}

/** One TLV with a single-byte identifier (enough for every tag we use). */
export const tlv = (tag: number, content: Uint8Array): Uint8Array => {
  const out = new Uint8Array(headerLength(content.length) + content.length)
  out.set(content, writeHeader(out, tag, content.length))
  return out
}

/** A constructed TLV whose content is `parts` one after another. */
const constructed = (tag: number, parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(headerLength(length) + length)
  let at = writeHeader(out, tag, length)
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

export const sequence = (...items: ReadonlyArray<Uint8Array>): Uint8Array => constructed(0x30, items)

/** SET OF: DER wants the encoded elements in ascending byte order. */
export const setOf = (items: ReadonlyArray<Uint8Array>): Uint8Array =>
  constructed(0x31, items.length < 2 ? items : [...items].sort(compareBytes))

const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!
  }
  return a.length - b.length
}

const trueValue = Uint8Array.of(0x01, 0x01, 0xff)
const falseValue = Uint8Array.of(0x01, 0x01, 0x00)

/*
 * Constant encodings (BOOLEAN, NULL, and OIDs and AlgorithmIdentifiers, which come from the
 * code) are made once and shared: every encoder copies its parts, and nothing writes into
 * an encoding once made.
 */
export const boolean = (value: boolean): Uint8Array => (value ? trueValue : falseValue)

const nullEncoding = Uint8Array.of(0x05, 0x00)
export const nullValue = (): Uint8Array => nullEncoding

/** A non-negative INTEGER. */
export const integer = (value: number): Uint8Array => {
  const bytes: Array<number> = []
  for (let n = value; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256)
  if (bytes.length === 0 || bytes[0]! >= 0x80) bytes.unshift(0)
  return tlv(0x02, Uint8Array.from(bytes))
}

export const octetString = (bytes: Uint8Array): Uint8Array => tlv(0x04, bytes)

export const bitString = (bytes: Uint8Array, unusedBits: number): Uint8Array => {
  const out = new Uint8Array(headerLength(bytes.length + 1) + bytes.length + 1)
  const at = writeHeader(out, 0x03, bytes.length + 1)
  out[at] = unusedBits
  out.set(bytes, at + 1)
  return out
}

/** Up to this many OIDs are kept encoded: the code's own, and a few from literal subjects. */
const maxCachedOids = 256
const oids = new Map<string, Uint8Array>()

const encodeOid = (dotted: string): Uint8Array => {
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

/** An OBJECT IDENTIFIER from its dotted form, e.g. "1.2.840.113549.1.7.1". */
export const oid = (dotted: string): Uint8Array => {
  const cached = oids.get(dotted)
  if (cached !== undefined) return cached
  const encoded = encodeOid(dotted)
  if (oids.size < maxCachedOids) oids.set(dotted, encoded)
  return encoded
}

const encoder = new TextEncoder()
export const utf8String = (text: string): Uint8Array => tlv(0x0c, encoder.encode(text))
export const printableString = (text: string): Uint8Array => tlv(0x13, encoder.encode(text))
export const ia5String = (text: string): Uint8Array => tlv(0x16, encoder.encode(text))
export const bmpString = (bytes: Uint8Array): Uint8Array => tlv(0x1e, bytes)

/** [n] EXPLICIT: wraps a complete encoding. */
export const explicit = (n: number, inner: Uint8Array): Uint8Array => tlv(0xa0 | n, inner)

/** [n] IMPLICIT over a primitive type: replaces its tag, keeps its content. */
export const implicitPrimitive = (n: number, content: Uint8Array): Uint8Array => tlv(0x80 | n, content)

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL } */
export const algorithm = (dotted: string, parameters?: Uint8Array): Uint8Array => {
  if (parameters !== undefined) return sequence(oid(dotted), parameters)
  const key = `${dotted}/`
  const cached = oids.get(key)
  if (cached !== undefined) return cached
  const encoded = sequence(oid(dotted))
  if (oids.size < maxCachedOids) oids.set(key, encoded)
  return encoded
}

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
export const pem = (label: string, der: Uint8Array): string =>
  pemOfBase64(label, Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64"))

/** PEM armour around a body already in (one-line) base64. */
export const pemOfBase64 = (label: string, b64: string): string => {
  let text = `-----BEGIN ${label}-----\n`
  for (let i = 0; i < b64.length; i += 64) text += `${b64.slice(i, i + 64)}\n`
  return `${text}-----END ${label}-----`
}

export { concat }

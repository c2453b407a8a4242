/**
 * DER encodings the sandbox issuer needs beyond src/pki/der.ts: X.509 Time, a positive
 * INTEGER from raw bytes (serial numbers), named-bit BIT STRINGs (KeyUsage), an
 * Extension, and PEM armour.
 */
import { boolean, concat, octetString, oid, sequence, tlv } from "../../pki/der.js"

const two = (n: number): string => (n < 10 ? `0${n}` : String(n))

/**
 * Time as RFC 5280 section 4.1.2.5 wants it: UTCTime for 1950 through 2049, GeneralizedTime
 * otherwise; seconds precision, always Zulu.
 */
export const time = (date: Date): Uint8Array => {
  const year = date.getUTCFullYear()
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(
    date.getUTCMinutes(),
  )}${two(date.getUTCSeconds())}Z`
  if (year >= 1950 && year <= 2049) return tlv(0x17, ascii(`${two(year % 100)}${rest}`))
  return tlv(0x18, ascii(`${String(year).padStart(4, "0")}${rest}`))
}

const ascii = (text: string): Uint8Array => {
  const out = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i)
  return out
}

/** A non-negative INTEGER from big-endian magnitude bytes, minimally encoded. */
export const unsignedInteger = (magnitude: Uint8Array): Uint8Array => {
  let at = 0
  while (at < magnitude.length - 1 && magnitude[at] === 0) at++
  const bytes = magnitude.subarray(at)
  if (bytes.length === 0) return tlv(0x02, Uint8Array.of(0))
  return tlv(0x02, bytes[0]! >= 0x80 ? concat([Uint8Array.of(0), bytes]) : bytes)
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

/** PEM armour with 64-character lines, ending in one newline. */
export const pem = (label: string, der: Uint8Array): string => {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64")
  const lines: Array<string> = []
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64))
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`
}

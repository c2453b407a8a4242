/**
 * DER encodings the sandbox issuer needs beyond src/pki/der.ts: X.509 Time and a
 * positive INTEGER from raw bytes (serial numbers).
 */
import { concat, tlv } from "../../pki/der.js"

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

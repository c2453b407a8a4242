/**
 * Password-based encryption and MACs for PKCS#12 (RFC 7292): the PKCS#12 key
 * derivation function (appendix B), the two legacy PBE schemes cert-manager's
 * profiles use (SHA-1 + 3DES, SHA-1 + 40-bit RC2), PBES2 (PBKDF2-HMAC-SHA-256 +
 * AES-256-CBC, RFC 8018) and the MacData HMAC. Each scheme returns its DER
 * AlgorithmIdentifier with the ciphertext, ready to drop into the file.
 */
import * as crypto from "node:crypto"
import * as Der from "./der.js"
import { rehash } from "./iterated-hash.js"
import * as Rc2 from "./rc2.js"

export type MacHash = "sha1" | "sha256"

/** u = digest bytes, v = compression block bytes, per RFC 7292 appendix B.2. */
const hashSizes = { sha1: { u: 20, v: 64 }, sha256: { u: 32, v: 64 } } as const
export const hashOids = { sha1: "1.3.14.3.2.26", sha256: "2.16.840.1.101.3.4.2.1" } as const

/**
 * The password as PKCS#12 wants it for its own KDF: BMPString (UTF-16BE) plus two
 * zero bytes. Undefined when it holds characters outside the BMP, which go-pkcs12
 * refuses too.
 */
export const bmpPassword = (password: string): Uint8Array | undefined => {
  const out = new Uint8Array(password.length * 2 + 2)
  for (let i = 0; i < password.length; i++) {
    const unit = password.charCodeAt(i)
    if (unit >= 0xd800 && unit <= 0xdfff) return undefined
    out[2 * i] = unit >> 8
    out[2 * i + 1] = unit & 0xff
  }
  return out
}

/** Repeats `bytes` to fill a multiple of v bytes (nothing when `bytes` is empty). */
const stretch = (bytes: Uint8Array, v: number): Uint8Array => {
  const out = new Uint8Array(v * Math.ceil(bytes.length / v))
  for (let i = 0; i < out.length; i++) out[i] = bytes[i % bytes.length]!
  return out
}

/** RFC 7292 appendix B.2: id 1 derives a key, 2 an IV, 3 a MAC key. */
export const pkcs12Kdf = (
  hash: MacHash,
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  id: 1 | 2 | 3,
  length: number,
): Uint8Array => {
  const { u, v } = hashSizes[hash]
  const D = new Uint8Array(v).fill(id)
  const I = Der.concat([stretch(salt, v), stretch(password, v)])
  const out = new Uint8Array(length)
  for (let produced = 0; produced < length; produced += u) {
    const A = rehash(hash, crypto.hash(hash, Der.concat([D, I]), "buffer"), iterations - 1)
    out.set(A.subarray(0, Math.min(u, length - produced)), produced)
    if (produced + u >= length) break
    const B = stretch(A, v)
    for (let j = 0; j < I.length; j += v) {
      let carry = 1
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry
        I[j + k] = sum & 0xff
        carry = sum >> 8
      }
    }
  }
  return out
}

export interface Encrypted {
  /** DER AlgorithmIdentifier naming the scheme and its parameters. */
  readonly algorithm: Uint8Array
  readonly ciphertext: Uint8Array
}

/** A password in both encodings PKCS#12 uses: its own KDF wants BMP, PBES2 wants UTF-8. */
export interface Password {
  readonly bmp: Uint8Array
  readonly utf8: Uint8Array
}

/** Undefined when the password cannot be a BMPString. */
export const encodePassword = (password: string): Password | undefined => {
  const bmp = bmpPassword(password)
  return bmp === undefined ? undefined : { bmp, utf8: new TextEncoder().encode(password) }
}

export interface PbeInput {
  readonly plaintext: Uint8Array
  readonly password: Password
  readonly salt: Uint8Array
  readonly iterations: number
}

const pbeParameters = (salt: Uint8Array, iterations: number) =>
  Der.sequence(Der.octetString(salt), Der.integer(iterations))

/** pbeWithSHAAnd3-KeyTripleDES-CBC. */
export const pbeSha1TripleDes = (input: PbeInput): Encrypted => {
  const password = input.password.bmp
  const key = pkcs12Kdf("sha1", password, input.salt, input.iterations, 1, 24)
  const iv = pkcs12Kdf("sha1", password, input.salt, input.iterations, 2, 8)
  const cipher = crypto.createCipheriv("des-ede3-cbc", key, iv)
  return {
    algorithm: Der.algorithm("1.2.840.113549.1.12.1.3", pbeParameters(input.salt, input.iterations)),
    ciphertext: Der.concat([cipher.update(input.plaintext), cipher.final()]),
  }
}

/** pbeWithSHAAnd40BitRC2-CBC. */
export const pbeSha1Rc2_40 = (input: PbeInput): Encrypted => {
  const password = input.password.bmp
  const key = pkcs12Kdf("sha1", password, input.salt, input.iterations, 1, 5)
  const iv = pkcs12Kdf("sha1", password, input.salt, input.iterations, 2, 8)
  return {
    algorithm: Der.algorithm("1.2.840.113549.1.12.1.6", pbeParameters(input.salt, input.iterations)),
    ciphertext: Rc2.encryptCbc(key, 40, iv, input.plaintext),
  }
}

/**
 * PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC. PBES2 takes the password as
 * UTF-8 (RFC 8018), not as a BMPString, as go-pkcs12 and OpenSSL do.
 */
export const pbes2Aes256 = (input: PbeInput): Encrypted => {
  const iv = crypto.randomBytes(16)
  const key = crypto.pbkdf2Sync(input.password.utf8, input.salt, input.iterations, 32, "sha256")
  const cipher = crypto.createCipheriv("aes-256-cbc", key, iv)
  const kdf = Der.algorithm(
    "1.2.840.113549.1.5.12",
    Der.sequence(
      Der.octetString(input.salt),
      Der.integer(input.iterations),
      Der.algorithm("1.2.840.113549.2.9"),
    ),
  )
  const scheme = Der.algorithm("2.16.840.1.101.3.4.1.42", Der.octetString(iv))
  return {
    algorithm: Der.algorithm("1.2.840.113549.1.5.13", Der.sequence(kdf, scheme)),
    ciphertext: Der.concat([cipher.update(input.plaintext), cipher.final()]),
  }
}

/** The PFX MacData: HMAC over the AuthenticatedSafe with a PKCS#12-KDF key; iterations omitted when 1 (the DER default). */
export const macData = (input: {
  readonly hash: MacHash
  readonly content: Uint8Array
  readonly password: Uint8Array
  readonly salt: Uint8Array
  readonly iterations: number
}): Uint8Array => {
  const key = pkcs12Kdf(input.hash, input.password, input.salt, input.iterations, 3, hashSizes[input.hash].u)
  const digest = crypto.createHmac(input.hash, key).update(input.content).digest()
  const digestInfo = Der.sequence(Der.algorithm(hashOids[input.hash]), Der.octetString(digest))
  return input.iterations === 1
    ? Der.sequence(digestInfo, Der.octetString(input.salt))
    : Der.sequence(digestInfo, Der.octetString(input.salt), Der.integer(input.iterations))
}

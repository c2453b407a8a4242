import * as crypto from "node:crypto"
import { assert, describe, it } from "vitest"
import { bmpPassword, encodePassword, pbeSha1TripleDes, pbes2Aes256, pkcs12Kdf } from "../../src/pki/pbe.js"

const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"))
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex")

describe("PKCS#12 KDF (RFC 7292 appendix B)", () => {
  // OpenSSL's test/pkcs12_format_test vectors for password "smeg".
  it("derives OpenSSL's key and IV for password 'smeg'", () => {
    const password = bmpPassword("smeg")!
    assert.strictEqual(
      toHex(pkcs12Kdf("sha1", password, hex("0a58cf64530d823f"), 1, 1, 24)),
      "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3",
    )
    assert.strictEqual(
      toHex(pkcs12Kdf("sha1", password, hex("0a58cf64530d823f"), 1, 2, 8)),
      "79993dfe048d3b76",
    )
  })

  it("derives more than one digest's worth, and differently per id", () => {
    const password = bmpPassword("pw")!
    const salt = hex("0102030405060708")
    const long = pkcs12Kdf("sha256", password, salt, 3, 1, 80)
    assert.strictEqual(long.length, 80)
    assert.strictEqual(toHex(long.subarray(0, 32)), toHex(pkcs12Kdf("sha256", password, salt, 3, 1, 32)))
    assert.notStrictEqual(toHex(pkcs12Kdf("sha256", password, salt, 3, 2, 32)), toHex(long.subarray(0, 32)))
  })
})

describe("passwords", () => {
  it("encodes BMP big-endian with a two-byte terminator", () => {
    assert.strictEqual(toHex(bmpPassword("aé")!), "006100e90000")
    assert.strictEqual(toHex(bmpPassword("")!), "0000")
  })
  it("refuses characters outside the BMP", () => {
    assert.isUndefined(bmpPassword("pw🔑"))
    assert.isUndefined(encodePassword("pw🔑"))
  })
})

describe("PBE schemes decrypt with node:crypto", () => {
  const plaintext = crypto.randomBytes(77)
  const password = encodePassword("changeit")!
  const salt = crypto.randomBytes(8)

  it("3DES: key and IV from the PKCS#12 KDF", () => {
    const { ciphertext } = pbeSha1TripleDes({ plaintext, password, salt, iterations: 2048 })
    const key = pkcs12Kdf("sha1", password.bmp, salt, 2048, 1, 24)
    const iv = pkcs12Kdf("sha1", password.bmp, salt, 2048, 2, 8)
    const d = crypto.createDecipheriv("des-ede3-cbc", key, iv)
    assert.isTrue(Buffer.concat([d.update(ciphertext), d.final()]).equals(plaintext))
  })

  it("PBES2: PBKDF2-HMAC-SHA-256 over the UTF-8 password, IV in the parameters", () => {
    const { algorithm, ciphertext } = pbes2Aes256({ plaintext, password, salt, iterations: 2048 })
    const der = Buffer.from(algorithm)
    const iv = der.subarray(der.length - 16)
    const key = crypto.pbkdf2Sync("changeit", salt, 2048, 32, "sha256")
    const d = crypto.createDecipheriv("aes-256-cbc", key, iv)
    assert.isTrue(Buffer.concat([d.update(ciphertext), d.final()]).equals(plaintext))
  })
})

import * as crypto from "node:crypto"
import { assert, describe, it } from "vitest"
import { encryptBlock, encryptCbc, expandKey } from "../../src/pki/rc2.js"
import { hasLegacyProvider, opensslBytes } from "./support.js"

const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"))
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex")

// RFC 2268 section 5: key, effective key bits, plaintext, ciphertext.
const vectors = [
  ["0000000000000000", 63, "0000000000000000", "ebb773f993278eff"],
  ["ffffffffffffffff", 64, "ffffffffffffffff", "278b27e42e2f0d49"],
  ["3000000000000000", 64, "1000000000000001", "30649edf9be7d2c2"],
  ["88", 64, "0000000000000000", "61a8a244adacccf0"],
  ["88bca90e90875a", 64, "0000000000000000", "6ccf4308974c267f"],
  ["88bca90e90875a7f0f79c384627bafb2", 64, "0000000000000000", "1a807d272bbe5db1"],
  ["88bca90e90875a7f0f79c384627bafb2", 128, "0000000000000000", "2269552ab0f85ca6"],
  [
    "88bca90e90875a7f0f79c384627bafb216f80a6f85920584c42fceb0be255daf1e",
    129,
    "0000000000000000",
    "5b78d3a43dfff1f1",
  ],
] as const

describe("RC2", () => {
  for (const [key, bits, plaintext, ciphertext] of vectors) {
    it(`matches RFC 2268: key ${key.slice(0, 16)}… at ${bits} effective bits`, () => {
      const block = hex(plaintext)
      encryptBlock(expandKey(hex(key), bits), block)
      assert.strictEqual(toHex(block), ciphertext)
    })
  }

  it("CBC pads with PKCS#7: a full block of padding after a block-aligned input", () => {
    const out = encryptCbc(hex("0102030405"), 40, new Uint8Array(8), new Uint8Array(16))
    assert.strictEqual(out.length, 24)
    assert.strictEqual(encryptCbc(hex("0102030405"), 40, new Uint8Array(8), new Uint8Array(13)).length, 16)
  })

  it.skipIf(!hasLegacyProvider())("RC2-40-CBC agrees with openssl's legacy provider", () => {
    for (const length of [0, 1, 7, 8, 9, 100]) {
      const key = crypto.randomBytes(5)
      const iv = crypto.randomBytes(8)
      const data = crypto.randomBytes(length)
      const out = opensslBytes(
        [
          "enc",
          "-rc2-40-cbc",
          "-provider",
          "legacy",
          "-provider",
          "default",
          "-K",
          key.toString("hex"),
          "-iv",
          iv.toString("hex"),
        ],
        data,
      )
      assert.strictEqual(toHex(encryptCbc(key, 40, iv, data)), out.toString("hex"))
    }
  })
})

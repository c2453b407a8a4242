import * as crypto from "node:crypto"
import { assert, describe, it } from "vitest"
import { rehash } from "../../src/pki/iterated-hash.js"

/** The same, by node's hashing one call at a time. */
const byCrypto = (hash: "sha1" | "sha256", digest: Buffer, times: number): Buffer => {
  let out = digest
  for (let i = 0; i < times; i++) out = crypto.hash(hash, out, "buffer")
  return out
}

describe("rehash (the PKCS#12 KDF's rounds)", () => {
  for (const hash of ["sha1", "sha256"] as const) {
    it(`${hash}: equals hashing the digest again with node's crypto, for any count`, () => {
      for (const times of [0, 1, 2, 3, 64, 2047]) {
        for (let sample = 0; sample < 5; sample++) {
          const digest = crypto.hash(hash, crypto.randomBytes(1 + sample * 17), "buffer")
          assert.strictEqual(
            Buffer.from(rehash(hash, digest, times)).toString("hex"),
            byCrypto(hash, digest, times).toString("hex"),
            `${hash} × ${times}`,
          )
        }
      }
    })
  }

  it("leaves its input as it was", () => {
    const digest = crypto.hash("sha1", "x", "buffer")
    const copy = Buffer.from(digest)
    rehash("sha1", digest, 10)
    assert.isTrue(digest.equals(copy))
  })
})

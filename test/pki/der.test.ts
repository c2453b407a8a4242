/** The DER encoder against the plain definition of X.690's lengths and SET OF order. */
import { assert, describe, it } from "@effect/vitest"
import * as Der from "../../src/pki/der.js"

/** X.690 8.1.3 written out: short form below 128, else 0x80|n and n big-endian octets. */
const referenceLength = (length: number): Array<number> => {
  if (length < 0x80) return [length]
  const bytes: Array<number> = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256)
  return [0x80 | bytes.length, ...bytes]
}

const referenceTlv = (tag: number, content: ReadonlyArray<number>): Array<number> => [
  tag,
  ...referenceLength(content.length),
  ...content,
]

describe("DER", () => {
  it("writes minimal definite lengths at every size boundary", () => {
    for (const size of [0, 1, 127, 128, 255, 256, 4095, 65535, 65536, 70000]) {
      const content = Uint8Array.from({ length: size }, (_, i) => i % 251)
      const expected = referenceTlv(0x04, [...content])
      assert.deepStrictEqual([...Der.octetString(content)], expected, `octet string of ${size}`)
      assert.deepStrictEqual(
        [...Der.sequence(content)],
        referenceTlv(0x30, [...content]),
        `sequence of ${size}`,
      )
      assert.deepStrictEqual(
        [...Der.bitString(content, 3)],
        referenceTlv(0x03, [3, ...content]),
        `bit string of ${size}`,
      )
    }
  })

  it("concatenates a sequence's items and sorts a SET OF's", () => {
    const a = Der.integer(5)
    const b = Der.utf8String("é")
    assert.deepStrictEqual([...Der.sequence(a, b)], referenceTlv(0x30, [...a, ...b]))
    assert.deepStrictEqual([...Der.sequence()], [0x30, 0])
    assert.deepStrictEqual([...Der.setOf([b, a])], referenceTlv(0x31, [...a, ...b]))
    assert.deepStrictEqual([...b], [0x0c, 2, 0xc3, 0xa9])
  })

  it("encodes OIDs, booleans and NULL as X.690 says, the same each time", () => {
    assert.deepStrictEqual([...Der.oid("1.2.840.113549.1.7.1")], [6, 9, 42, 134, 72, 134, 247, 13, 1, 7, 1])
    assert.deepStrictEqual([...Der.oid("2.5.29.17")], [6, 3, 85, 29, 17])
    assert.strictEqual(Der.oid("2.5.29.17"), Der.oid("2.5.29.17"))
    assert.deepStrictEqual(
      [...Der.algorithm("1.2.840.10045.4.3.2")],
      [48, 10, 6, 8, 42, 134, 72, 206, 61, 4, 3, 2],
    )
    assert.deepStrictEqual(
      [...Der.algorithm("1.2.840.113549.1.1.11", Der.nullValue())],
      [48, 13, 6, 9, 42, 134, 72, 134, 247, 13, 1, 1, 11, 5, 0],
    )
    assert.deepStrictEqual([...Der.boolean(true)], [1, 1, 0xff])
    assert.deepStrictEqual([...Der.boolean(false)], [1, 1, 0])
    assert.deepStrictEqual([...Der.integer(0)], [2, 1, 0])
    assert.deepStrictEqual([...Der.integer(128)], [2, 2, 0, 128])
  })
})

/** The strict PEM reader: blocks only, canonical base64, problems described without the input. */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { readPem, writePem, writePemBlock } from "../../src/pki/pem.js"

const block = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`

const problem = (text: string) => {
  const read = readPem(text, 4)
  assert.isTrue(Result.isFailure(read), `expected a problem with ${JSON.stringify(text)}`)
  return Result.isFailure(read) ? read.failure : undefined
}

describe("readPem", () => {
  it("reads labels and bytes; writePem writes them back canonically", () => {
    const read = readPem(`${block("A", "QUJD")}\r\n${block("B B", "AAEC\r\n  Aw==")}`, 4)
    assert.isTrue(Result.isSuccess(read))
    if (!Result.isSuccess(read)) return
    assert.deepStrictEqual(
      read.success.map((b) => [b.label, [...b.der]]),
      [
        ["A", [0x41, 0x42, 0x43]],
        ["B B", [0, 1, 2, 3]],
      ],
    )
    assert.strictEqual(writePem("B B", read.success[1]!.der), block("B B", "AAECAw=="))
    // From the text read, without encoding the bytes again: the same.
    for (const b of read.success) assert.strictEqual(writePemBlock(b), writePem(b.label, b.der))
    const long = new Uint8Array(100).fill(7)
    const lines = writePem("X", long).split("\n")
    assert.deepStrictEqual(
      lines.map((l) => l.length),
      [17, 64, 64, 8, 15, 0],
    )
    const again = readPem(writePem("X", long), 1)
    assert.isTrue(Result.isSuccess(again))
    if (Result.isSuccess(again)) assert.strictEqual(writePemBlock(again.success[0]!), writePem("X", long))
    assert.strictEqual(writePem("E", new Uint8Array(0)), "-----BEGIN E-----\n-----END E-----\n")
  })

  it("takes only canonical base64: alphabet, padding, zero unused bits, no headers", () => {
    for (const body of [
      "QUI",
      "QUI=A",
      "QUJ=",
      "QUI==",
      "Q===",
      "QU I!",
      "Proc-Type: 4,ENCRYPTED\n\nQUJD",
      "-QUJD",
      "",
    ]) {
      assert.strictEqual(problem(block("A", body))?._tag, "Malformed", body)
    }
    // "QUJ=" and "QUI=" decode to the same two bytes; only the second re-encodes to itself.
    assert.deepStrictEqual([...Buffer.from("QUJ=", "base64")], [...Buffer.from("QUI=", "base64")])
    assert.isTrue(Result.isSuccess(readPem(block("A", "QUI="), 1)))
  })

  it("refuses text around the blocks, saying where and how much, never what", () => {
    const cases: ReadonlyArray<[string, string]> = [
      [`secret ${block("A", "QUJD")}`, "6 characters of other text before the first PEM block"],
      [`${block("A", "QUJD")}secret`, "6 characters of other text after the last PEM block"],
      [
        `${block("A", "QUJD")} se cret \n${block("A", "QUJD")}`,
        "6 characters of other text between PEM blocks 1 and 2",
      ],
      [`${block("A", "QUJD").trimEnd()}secret`, "6 characters of other text after the last PEM block"],
    ]
    for (const [text, message] of cases) {
      const found = problem(text)
      assert.strictEqual(found?._tag, "ExtraData")
      assert.strictEqual(found?.message, message)
    }
    assert.deepStrictEqual(problem("secret"), {
      _tag: "Malformed",
      message: "6 characters of text and no PEM block",
    })
    assert.deepStrictEqual(problem(" \n\t"), { _tag: "Empty", message: "no PEM block" })
  })

  it("refuses broken armour, naming the block and at most its (checked) label", () => {
    assert.strictEqual(problem(block("A", "QUJD").replace("END A", "END B"))?._tag, "Malformed")
    assert.strictEqual(problem("-----BEGIN A-----\nQUJD\n")?.message, 'PEM block 1 ("A") has no END line')
    assert.strictEqual(problem(block("", "QUJD"))?._tag, "Malformed")
    assert.strictEqual(
      problem(block("a".repeat(65), "QUJD"))?.message,
      "PEM block 1 has no valid label on its BEGIN line",
    )
    assert.strictEqual(problem(block("A  B", "QUJD"))?._tag, "Malformed")
    assert.strictEqual(problem(block("A", "QUJD").replace("-----\n", "----- QUJD\n"))?._tag, "Malformed")
    assert.strictEqual(problem(block("A", "QUJD").repeat(5))?._tag, "TooManyBlocks")
  })
})

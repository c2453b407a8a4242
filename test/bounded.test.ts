import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import {
  cutToBytes,
  firstFew,
  formatCount,
  joinWithin,
  maxMessageBytes,
  named,
  quoted,
  Sample,
} from "../src/bounded.js"

const bytes = (text: string) => Buffer.byteLength(text)

describe("cutToBytes", () => {
  it("keeps text that fits, as it is", () => {
    expect(cutToBytes("short")).toBe("short")
    expect(cutToBytes("é".repeat(1024))).toBe("é".repeat(1024))
  })

  it("cuts longer text to the limit, says how long it was, and never splits a character", () => {
    for (const unit of ["a", "é", "€", "😀"]) {
      const text = unit.repeat(5000)
      const cut = cutToBytes(text, 1000)
      expect(bytes(cut)).toBeLessThanOrEqual(1000)
      expect(cut).toMatch(/ … \(cut: [\d,]+ characters in all\)$/)
      expect(cut).not.toContain("\uFFFD")
      expect(text.startsWith(cut.slice(0, cut.indexOf(" …")))).toBe(true)
    }
  })

  it.prop("is never longer than asked, for any text", [Schema.String], ([text]) => {
    expect(bytes(cutToBytes(text.repeat(50), 300))).toBeLessThanOrEqual(300)
  })
})

describe("quoted", () => {
  it("JSON-quotes short values", () => {
    expect(quoted('a "b"\n')).toBe('"a \\"b\\"\\n"')
  })

  it("shows a long value's start and its length", () => {
    expect(quoted("x".repeat(1_000_000))).toBe(`"${"x".repeat(100)}"… (1,000,000 characters)`)
  })

  it("does not cut between the halves of a surrogate pair", () => {
    const shown = quoted(`${"x".repeat(99)}😀${"y".repeat(50)}`)
    expect(shown.startsWith(`"${"x".repeat(99)}"…`)).toBe(true)
  })
})

describe("named", () => {
  it("shows plain keys as they are and quotes the rest", () => {
    expect(named("csi.cert-manager.io/dns-names")).toBe("csi.cert-manager.io/dns-names")
    expect(named("bad key")).toBe('"bad key"')
    expect(named("k".repeat(500)).length).toBeLessThan(140)
  })
})

describe("lists", () => {
  it("names up to three entries and counts the rest", () => {
    expect(firstFew(["a"])).toBe("a")
    expect(firstFew(["a", "b"])).toBe("a and b")
    expect(firstFew(["a", "b", "c"])).toBe("a, b and c")
    expect(firstFew(["a", "b", "c"], 10_000)).toBe("a, b, c and 9,997 more")
  })

  it("a Sample keeps the first few and counts all", () => {
    const sample = new Sample<number>()
    for (let i = 0; i < 100_000; i++) sample.add(i)
    expect(sample.items).toEqual([0, 1, 2])
    expect(sample.total).toBe(100_000)
  })

  it("formats counts with thousands separators", () => {
    expect([0, 999, 1000, 1_234_567].map(formatCount)).toEqual(["0", "999", "1,000", "1,234,567"])
  })
})

describe("joinWithin", () => {
  it("joins everything that fits", () => {
    expect(joinWithin(["a", "b"], { separator: "; ", noun: "problem" })).toBe("a; b")
  })

  it("stops within the limit and counts what it left out, given or not", () => {
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i}: ${"z".repeat(40)}`)
    const joined = joinWithin(lines, { separator: "\n", noun: "problem", total: 1000 })
    expect(bytes(joined)).toBeLessThanOrEqual(maxMessageBytes)
    const shown = joined.split("\n").length - 1
    expect(joined.endsWith(`and ${formatCount(1000 - shown)} more problems`)).toBe(true)
  })

  it("cuts a first line that is too long on its own", () => {
    const joined = joinWithin(["q".repeat(10_000), "second"], { separator: "\n", noun: "problem" })
    expect(bytes(joined)).toBeLessThanOrEqual(maxMessageBytes)
    expect(joined).toMatch(/^q+ … \(cut: 10,000 characters in all\)\nand 1 more problem$/)
  })
})

/**
 * Attribute decoding with hostile sizes: problems stay few and messages bounded
 * however many bad keys or entries arrive, long values are cut, the password never
 * shows, and the cache of decoded specs stays within its count and bytes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import type { InvalidAttributes } from "../../src/attributes/errors.js"
import {
  decodeAttributes,
  recentSpecsLimits,
  recentSpecsSize,
  recentValuesLimits,
  recentValuesSize,
} from "../../src/attributes/parse.js"
import type { PodInfo } from "../../src/attributes/spec.js"
import { maxMessageBytes } from "../../src/bounded.js"

const pod: PodInfo = { name: "my-csi-app", namespace: "sandbox", uid: "4a5b", serviceAccountName: "app-sa" }
const P = "csi.cert-manager.io/"
const base = { [`${P}issuer-name`]: "ca-issuer", [`${P}dns-names`]: "a.example.com" }

const failureOf = (attributes: Record<string, string>): InvalidAttributes => {
  const result = decodeAttributes({ ...base, ...attributes }, pod)
  if (Result.isSuccess(result)) throw new Error("expected problems")
  return result.failure
}

describe("bounded problems", () => {
  it("10,000 unknown keys: the first few described, the rest counted, within 2 KiB", () => {
    const keys = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`${P}unknown-${i}`, "x"]))
    const started = performance.now()
    const error = failureOf(keys)
    expect(performance.now() - started).toBeLessThan(2000)
    expect(error.problems.length).toBeLessThanOrEqual(8)
    expect(error.problems[0]?.attribute).toBe(`${P}unknown-0`)
    expect(Buffer.byteLength(error.message)).toBeLessThanOrEqual(maxMessageBytes)
    expect(error.message).toMatch(/\nand 9,99\d more problems$/)
  })

  it("thousands of foreign keys that look like attributes are caught cheaply", () => {
    const keys = Object.fromEntries(
      Array.from({ length: 5000 }, (_, i) => [`csi.cert-manager.ix/dns-name${i % 10}`, "x"]),
    )
    const error = failureOf(keys)
    expect(error.message).toContain("did you mean csi.cert-manager.io/dns-names?")
  })

  it("a long unknown key is quoted and cut in the message", () => {
    const key = `${P}${"k".repeat(100_000)}`
    const error = failureOf({ [key]: "v" })
    expect(
      error.message.startsWith(
        `"${P}${"k".repeat(100 - P.length)}"… (100,020 characters): unknown attribute`,
      ),
    ).toBe(true)
    expect(Buffer.byteLength(error.message)).toBeLessThanOrEqual(maxMessageBytes)
  })

  it("a 1 MB value is shown by its start and length", () => {
    const error = failureOf({ [`${P}duration`]: "9".repeat(1_000_000) })
    expect(error.message).toContain(`"${"9".repeat(100)}"… (1,000,000 characters) is not a duration`)
  })

  it("thousands of unknown variables and key usages: three named, the rest counted", () => {
    const variables = Array.from({ length: 5000 }, (_, i) => `\${V${i}}`).join(".")
    expect(failureOf({ [`${P}common-name`]: variables }).message).toContain(
      'uses the unknown variables "${V0}", "${V1}", "${V2}" and 4,997 more',
    )
    const usages = Array.from({ length: 5000 }, (_, i) => `usage ${i}`).join(",")
    expect(failureOf({ [`${P}key-usages`]: usages }).message).toContain(
      '"usage 0", "usage 1", "usage 2" and 4,997 more are not key usages',
    )
  })

  it("never shows the pkcs12-password, even inside a value too long to show whole", () => {
    const password = "hunter2-password"
    const error = failureOf({
      [`${P}pkcs12-enable`]: "true",
      [`${P}pkcs12-password`]: password,
      [`${P}common-name`]: `${"c".repeat(5000)}${password}\${NOPE}`,
      [`${P}dns-names`]: `${password}!,${"d".repeat(300)}!`,
    })
    expect(error.message).not.toContain(password)
    expect(error.message).toContain("(a value that contains the pkcs12-password, not shown)")
  })
})

describe("the cache of decoded specs", () => {
  it("holds at most its count of entries", () => {
    for (let i = 0; i < recentSpecsLimits.entries + 50; i++) {
      expect(Result.isSuccess(decodeAttributes({ ...base, [`${P}common-name`]: `cn-${i}` }, pod))).toBe(true)
    }
    expect(recentSpecsSize().entries).toBeLessThanOrEqual(recentSpecsLimits.entries)
  })

  it("holds at most its bytes, and no spec from inputs larger than one entry may be", () => {
    const before = recentSpecsSize()
    const huge = decodeAttributes({ ...base, "example.com/blob": "b".repeat(200_000) }, pod)
    expect(Result.isSuccess(huge)).toBe(true)
    expect(recentSpecsSize()).toEqual(before)
    for (let i = 0; i < 200; i++) {
      decodeAttributes({ ...base, "example.com/blob": `${i}${"b".repeat(60_000)}` }, pod)
    }
    expect(recentSpecsSize().bytes).toBeLessThanOrEqual(recentSpecsLimits.bytes)
  })

  it("gives the issuance's decode (the last use) the publish's spec, and keeps it no longer", () => {
    const inputs = { ...base, [`${P}common-name`]: "taken" }
    const before = recentSpecsSize().entries
    const published = decodeAttributes(inputs, pod)
    expect(recentSpecsSize().entries).toBe(before + 1)
    const issued = decodeAttributes(inputs, pod, undefined, true)
    expect(Result.isSuccess(published) && Result.isSuccess(issued)).toBe(true)
    if (Result.isSuccess(published) && Result.isSuccess(issued))
      expect(issued.success).toBe(published.success)
    expect(recentSpecsSize().entries).toBe(before)
    // A last use with nothing remembered decodes and remembers nothing.
    expect(Result.isSuccess(decodeAttributes(inputs, pod, undefined, true))).toBe(true)
    expect(recentSpecsSize().entries).toBe(before)
  })

  it("keeps nothing of invalid input", () => {
    const before = recentSpecsSize()
    for (let i = 0; i < 100; i++) decodeAttributes({ ...base, [`${P}is-ca`]: `maybe-${i}` }, pod)
    expect(recentSpecsSize()).toEqual(before)
  })
})

describe("the cache of decoded attribute values", () => {
  it("gives the same spec for a value decoded before, across pods, and keeps no value expanded per pod", () => {
    const shared = { ...base, [`${P}dns-names`]: "${POD_NAME}.svc", [`${P}duration`]: "2h" }
    const first = decodeAttributes(shared, pod)
    const before = recentValuesSize()
    const other = decodeAttributes(shared, { ...pod, name: "other", uid: "5c6d" })
    expect(recentValuesSize()).toEqual(before)
    expect(Result.isSuccess(first) && Result.isSuccess(other)).toBe(true)
    if (Result.isSuccess(first) && Result.isSuccess(other)) {
      expect(first.success.dnsNames).toEqual(["my-csi-app.svc"])
      expect(other.success.dnsNames).toEqual(["other.svc"])
      expect(other.success.duration).toEqual(first.success.duration)
    }
  })

  it("holds at most its count of entries and its bytes; no long value", () => {
    for (let i = 0; i < recentValuesLimits.entries + 50; i++) {
      decodeAttributes({ ...base, [`${P}common-name`]: `cn-${i}-${"c".repeat(40)}` }, pod)
    }
    expect(recentValuesSize().entries).toBeLessThanOrEqual(recentValuesLimits.entries)
    const before = recentValuesSize()
    decodeAttributes({ ...base, [`${P}common-name`]: "c".repeat(recentValuesLimits.entryBytes) }, pod)
    expect(recentValuesSize()).toEqual(before)
    expect(recentValuesSize().bytes).toBeLessThanOrEqual(recentValuesLimits.bytes)
  })

  it("keeps no value that failed to decode, and the same problems come back each time", () => {
    failureOf({ [`${P}is-ca`]: "maybe" })
    const before = recentValuesSize()
    const messages = new Set<string>()
    for (let i = 0; i < 3; i++) messages.add(failureOf({ [`${P}is-ca`]: "maybe" }).message)
    for (let i = 0; i < 100; i++) failureOf({ [`${P}is-ca`]: `maybe-${i}` })
    expect(messages.size).toBe(1)
    expect(recentValuesSize()).toEqual(before)
  })
})

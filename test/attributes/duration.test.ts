import { describe, expect, it } from "@effect/vitest"
import { Duration, Result } from "effect"
import {
  formatGoDuration,
  formatGoNanos,
  parseGoDuration,
  parseGoNanos,
} from "../../src/attributes/duration.js"

const second = 1_000_000_000n
const minute = 60n * second
const hour = 60n * minute
const min = -(1n << 63n)
const max = (1n << 63n) - 1n

// Go's own ParseDuration test table (src/time/time_test.go), in nanoseconds.
const valid: ReadonlyArray<readonly [string, bigint]> = [
  ["0", 0n],
  ["5s", 5n * second],
  ["30s", 30n * second],
  ["1478s", 1478n * second],
  ["-5s", -5n * second],
  ["+5s", 5n * second],
  ["-0", 0n],
  ["+0", 0n],
  ["5.0s", 5n * second],
  ["5.6s", 5n * second + 600_000_000n],
  ["5.s", 5n * second],
  [".5s", 500_000_000n],
  ["1.0s", second],
  ["1.00s", second],
  ["1.004s", second + 4_000_000n],
  ["1.0040s", second + 4_000_000n],
  ["100.00100s", 100n * second + 1_000_000n],
  ["10ns", 10n],
  ["11us", 11_000n],
  ["12\u00b5s", 12_000n],
  ["12\u03bcs", 12_000n],
  ["13ms", 13_000_000n],
  ["14s", 14n * second],
  ["15m", 15n * minute],
  ["16h", 16n * hour],
  ["3h30m", 3n * hour + 30n * minute],
  ["10.5s4m", 4n * minute + 10n * second + 500_000_000n],
  ["-2m3.4s", -(2n * minute + 3n * second + 400_000_000n)],
  ["1h2m3s4ms5us6ns", hour + 2n * minute + 3n * second + 4_000_000n + 5_000n + 6n],
  ["39h9m14.425s", 39n * hour + 9n * minute + 14n * second + 425_000_000n],
  ["52763797000ns", 52_763_797_000n],
  ["0.3333333333333333333h", 20n * minute],
  ["9007199254740993ns", (1n << 53n) + 1n],
  ["9223372036854775807ns", max],
  ["9223372036854775.807us", max],
  ["9223372036s854ms775us807ns", max],
  ["-9223372036854775808ns", min],
  ["-9223372036854775.808us", min],
  ["-9223372036s854ms775us808ns", min],
  ["-2562047h47m16.854775808s", min],
  ["0.100000000000000000000h", 6n * minute],
  ["0.830103483285477580700h", 49n * minute + 48n * second + 372_539_827n],
  ["1.5h", hour + 30n * minute],
  ["2h45m30.5s", 2n * hour + 45n * minute + 30n * second + 500_000_000n],
  ["300ms", 300_000_000n],
  ["90s", 90n * second],
]

const invalid = [
  "",
  "3",
  "-",
  "s",
  ".",
  "-.",
  ".s",
  "+.s",
  "1d",
  "\x85\x85",
  "\xffff",
  "hello \xffff world",
  "9223372036854775808ns",
  "9223372036854775.808us",
  "9223372036854ms775us808ns",
  "9223372036s854ms775us808ns",
  "-9223372036854775809ns",
  "1h 30m",
  " 1h",
  "1H",
  "1hr",
  "1e3s",
  "1,5h",
  "0x10s",
]

describe("parseGoNanos (Go's time.ParseDuration)", () => {
  it.each(valid)("%j is %d ns", (text, nanos) => {
    expect(parseGoNanos(text)).toStrictEqual(Result.succeed(nanos))
  })
  it.each(invalid)("%j is invalid", (text) => {
    expect(parseGoNanos(text)).toStrictEqual(Result.fail("invalid"))
  })
})

describe("parseGoDuration (positive only)", () => {
  it.each([
    ["720h", 720n * hour],
    ["1h30m", 90n * minute],
    ["1ns", 1n],
    ["+5s", 5n * second],
  ] as const)("%j decodes", (text, nanos) => {
    const result = parseGoDuration(text)
    expect(Result.isSuccess(result) && Duration.toNanosUnsafe(result.success)).toBe(nanos)
  })
  it.each([
    ["0", "zero"],
    ["0s", "zero"],
    ["-0", "zero"],
    ["0.0h", "zero"],
    ["-1h", "negative"],
    ["-1ns", "negative"],
    ["1 hour", "invalid"],
    ["", "invalid"],
  ] as const)("%j is %s", (text, problem) => {
    expect(parseGoDuration(text)).toStrictEqual(Result.fail(problem))
  })
})

describe("formatGoNanos (Go's Duration.String)", () => {
  it.each([
    [0n, "0s"],
    [1n, "1ns"],
    [1_100n, "1.1\u00b5s"],
    [2_200_000n, "2.2ms"],
    [3_300_000_000n, "3.3s"],
    [4n * minute + 5n * second, "4m5s"],
    [4n * minute + 5n * second + 1_000_000n, "4m5.001s"],
    [5n * hour + 6n * minute + 7n * second + 1_000_000n, "5h6m7.001s"],
    [8n * minute + 1n, "8m0.000000001s"],
    [720n * hour, "720h0m0s"],
    [90n * second, "1m30s"],
    [max, "2562047h47m16.854775807s"],
    [min, "-2562047h47m16.854775808s"],
    [-1_500_000_000n, "-1.5s"],
  ] as const)("%d ns is %j", (nanos, text) => {
    expect(formatGoNanos(nanos)).toBe(text)
  })

  it("round-trips through parseGoNanos", () => {
    for (const [, nanos] of valid) {
      expect(parseGoNanos(formatGoNanos(nanos))).toStrictEqual(Result.succeed(nanos))
    }
  })

  it("formats effect Durations", () => {
    expect(formatGoDuration(Duration.hours(720))).toBe("720h0m0s")
    expect(formatGoDuration(Duration.millis(1500))).toBe("1.5s")
  })
})

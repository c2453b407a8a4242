/**
 * Go's duration syntax (`time.ParseDuration`, `Duration.String`), which the
 * `duration` and `renew-before` attributes use and cert-manager's `spec.duration`
 * expects. Parsing follows Go exactly, then refuses zero and negative durations,
 * which no certificate lifetime or renewal margin can be.
 */
import { Duration, Result } from "effect"

const units: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  "\u00b5s": 1_000n, // U+00B5 MICRO SIGN
  "\u03bcs": 1_000n, // U+03BC GREEK SMALL LETTER MU
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
}

const maxNanos = (1n << 63n) - 1n
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9"

/** Why a string is not a positive Go duration. */
export type DurationProblem = "invalid" | "zero" | "negative"

/**
 * Parses Go duration syntax to signed nanoseconds: a possibly signed sequence of
 * decimal numbers, each with an optional fraction and a unit (`300ms`, `-1.5h`, `2h45m`).
 */
export const parseGoNanos = (text: string): Result.Result<bigint, "invalid"> => {
  let s = text
  let negative = false
  if (s.startsWith("-") || s.startsWith("+")) {
    negative = s.startsWith("-")
    s = s.slice(1)
  }
  if (s === "0") return Result.succeed(0n)
  if (s === "") return Result.fail("invalid")
  let total = 0n
  while (s !== "") {
    if (!(s[0] === "." || isDigit(s[0]))) return Result.fail("invalid")
    let i = 0
    let whole = 0n
    while (isDigit(s[i])) {
      whole = whole * 10n + BigInt(s.charCodeAt(i) - 48)
      if (whole > 1n << 63n) return Result.fail("invalid")
      i++
    }
    const hasWhole = i > 0
    let fraction = 0n
    let scale = 1
    let hasFraction = false
    if (s[i] === ".") {
      i++
      const start = i
      let overflow = false
      while (isDigit(s[i])) {
        // Like Go, digits past int64 precision are consumed but ignored.
        const next = fraction * 10n + BigInt(s.charCodeAt(i) - 48)
        if (!overflow && (fraction > maxNanos / 10n || next > 1n << 63n)) overflow = true
        if (!overflow) {
          fraction = next
          scale *= 10
        }
        i++
      }
      hasFraction = i > start
    }
    if (!hasWhole && !hasFraction) return Result.fail("invalid")
    const unitStart = i
    while (i < s.length && s[i] !== "." && !isDigit(s[i])) i++
    if (i === unitStart) return Result.fail("invalid")
    const unit = units[s.slice(unitStart, i)]
    if (unit === undefined) return Result.fail("invalid")
    s = s.slice(i)
    if (whole > (1n << 63n) / unit) return Result.fail("invalid")
    let value = whole * unit
    if (fraction > 0n) {
      // Go computes the fractional part in float64, so do we: the same rounding.
      value += BigInt(Math.trunc(Number(fraction) * (Number(unit) / scale)))
      if (value > 1n << 63n) return Result.fail("invalid")
    }
    total += value
    if (total > 1n << 63n) return Result.fail("invalid")
  }
  if (negative) return Result.succeed(-total)
  if (total > maxNanos) return Result.fail("invalid")
  return Result.succeed(total)
}

/** Parses Go duration syntax into a positive `Duration`. */
export const parseGoDuration = (text: string): Result.Result<Duration.Duration, DurationProblem> =>
  Result.flatMap(parseGoNanos(text), (nanos) =>
    nanos < 0n
      ? Result.fail<DurationProblem>("negative")
      : nanos === 0n
        ? Result.fail<DurationProblem>("zero")
        : Result.succeed(Duration.nanos(nanos)),
  )

// Go's fmtFrac: the digits of v / 10^precision after the point, trailing zeros dropped.
const fraction = (v: bigint, precision: number): string => {
  const digits = (v % 10n ** BigInt(precision)).toString().padStart(precision, "0").replace(/0+$/, "")
  return digits === "" ? "" : `.${digits}`
}

/** Formats nanoseconds as Go's `Duration.String` does: `720h0m0s`, `1m30s`, `1.5s`, `300ms`. */
export const formatGoNanos = (nanos: bigint): string => {
  if (nanos === 0n) return "0s"
  const sign = nanos < 0n ? "-" : ""
  const u = nanos < 0n ? -nanos : nanos
  if (u < 1_000n) return `${sign}${u}ns`
  if (u < 1_000_000n) return `${sign}${u / 1_000n}${fraction(u, 3)}\u00b5s`
  if (u < 1_000_000_000n) return `${sign}${u / 1_000_000n}${fraction(u, 6)}ms`
  const seconds = u / 1_000_000_000n
  const secondsText = `${seconds % 60n}${fraction(u, 9)}s`
  const minutes = seconds / 60n
  if (minutes === 0n) return `${sign}${secondsText}`
  const hours = minutes / 60n
  if (hours === 0n) return `${sign}${minutes % 60n}m${secondsText}`
  return `${sign}${hours}h${minutes % 60n}m${secondsText}`
}

/** Formats a finite `Duration` in Go syntax, for cert-manager's `spec.duration`. */
export const formatGoDuration = (duration: Duration.Duration): string =>
  formatGoNanos(Duration.toNanosUnsafe(duration))

/**
 * Go's `time.ParseDuration`, which is how cert-manager reads `spec.duration`
 * (`2160h`, `1h30m`, `1.5h`, `90s`, `300ms`): an optional sign, then one or more
 * decimal numbers each with a unit (ns, us, µs, ms, s, m, h). "0" alone is allowed.
 */
import { Option } from "effect"

const unitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
}

/** Milliseconds in a Go duration string, or none if it does not parse. */
export const parseGoDuration = (input: string): Option.Option<number> => {
  let s = input
  let sign = 1
  if (s.startsWith("-") || s.startsWith("+")) {
    sign = s.startsWith("-") ? -1 : 1
    s = s.slice(1)
  }
  if (s === "0") return Option.some(0)
  if (s === "") return Option.none()
  const term = /^([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/
  let total = 0
  while (s.length > 0) {
    const m = term.exec(s)
    if (m === null || m[1] === "" || m[1] === ".") return Option.none()
    total += Number(m[1]) * unitMs[m[2]!]!
    s = s.slice(m[0].length)
  }
  return Option.some(sign * total)
}

/**
 * Parsers for single attribute values: each takes the raw string (after `${VAR}`
 * expansion, where the attribute allows it) and returns the typed value or the
 * messages saying what is wrong and what would be valid. Pure; the attribute key
 * is added by the caller.
 */
import { isIP } from "node:net"
import type { Duration } from "effect"
import { Result } from "effect"
import { firstFew, oneOf, Sample } from "../bounded.js"
import { parseGoDuration } from "./duration.js"
import type { Quote } from "./quote.js"
import { type KeyAlgorithm, type KeyEncoding, type KeyUsage, KeyUsages, type Pkcs12Profile } from "./spec.js"
import { nearest } from "./suggest.js"

/** A parsed value, or what is wrong with it (at least one message). */
export type Checked<A> = Result.Result<A, ReadonlyArray<string>>

const fail = (...messages: ReadonlyArray<string>): Checked<never> => Result.fail(messages)

export { oneOf }

export const boolean = (raw: string, quote: Quote): Checked<boolean> =>
  raw === "true"
    ? Result.succeed(true)
    : raw === "false"
      ? Result.succeed(false)
      : fail(`${quote(raw)} is not a boolean; use "true" or "false"`)

/** A positive Go duration; `example` is what the message suggests instead. */
export const goDuration =
  (example: string) =>
  (raw: string, quote: Quote): Checked<Duration.Duration> =>
    Result.mapError(parseGoDuration(raw), (problem) => [
      problem === "invalid"
        ? `${quote(raw)} is not a duration; write numbers with units (h, m, s, ms, us, ns), such as ${example} or 1h30m`
        : `${quote(raw)} is ${problem === "zero" ? "zero" : "negative"}; use a positive duration such as ${example}`,
    ])

/** A comma list with `\,` for a comma inside an entry; entries trimmed, empty ones dropped. */
export const escapedList = (raw: string): ReadonlyArray<string> => {
  const entries: Array<string> = []
  let current = ""
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === "\\" && raw[i + 1] === ",") {
      current += ","
      i++
    } else if (raw[i] === ",") {
      entries.push(current)
      current = ""
    } else {
      current += raw[i]
    }
  }
  entries.push(current)
  return entries.map((entry) => entry.trim()).filter((entry) => entry !== "")
}

/** A plain comma list; entries trimmed, empty ones dropped. */
export const list = (raw: string): ReadonlyArray<string> =>
  raw
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")

/** How a list check names its bad entries: `"x" is not a DNS name`, `"x", "y" are not DNS names`. */
interface EntryProblem {
  readonly one: string
  readonly many: string
  readonly advice: string
}

// Checks every entry of a list; one message names the first few bad entries and counts the rest,
// so 10,000 bad entries cost what three do.
const eachEntry = (
  entries: ReadonlyArray<string>,
  isValid: (entry: string) => boolean,
  quote: Quote,
  problem: EntryProblem,
): Checked<ReadonlyArray<string>> => {
  const bad = new Sample<string>()
  for (const entry of entries) if (!isValid(entry)) bad.add(entry)
  if (bad.total === 0) return Result.succeed(entries)
  const verb = bad.total === 1 ? problem.one : problem.many
  return fail(`${firstFew(bad.items.map(quote), bad.total)} ${verb}; ${problem.advice}`)
}

// Letters, digits, hyphens (and underscores, seen in SRV-style names); no hyphen at either end.
const dnsLabel = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/

/** A plausible DNS name: dot-separated labels, at most 253 characters, optionally `*.` first. */
export const isDnsName = (name: string): boolean => {
  const rest = name.startsWith("*.") ? name.slice(2) : name
  return name.length <= 253 && rest.split(".").every((label) => dnsLabel.test(label))
}

export const dnsNames = (raw: string, quote: Quote): Checked<ReadonlyArray<string>> =>
  eachEntry(list(raw), isDnsName, quote, {
    one: "is not a DNS name",
    many: "are not DNS names",
    advice:
      'use dot-separated labels of letters, digits and hyphens (at most 63 characters each), optionally starting with "*."',
  })

export const ipAddresses = (raw: string, quote: Quote): Checked<ReadonlyArray<string>> =>
  eachEntry(
    list(raw),
    // A zone (`fe80::1%eth0`) is meaningful only on one host, never in a certificate.
    (entry) => isIP(entry) !== 0 && !entry.includes("%"),
    quote,
    {
      one: "is not an IP address",
      many: "are not IP addresses",
      advice: "use IPv4 (10.0.0.1) or IPv6 (fd00::1) addresses",
    },
  )

const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/

export const uris = (raw: string, quote: Quote): Checked<ReadonlyArray<string>> =>
  eachEntry(list(raw), (entry) => scheme.test(entry) && URL.canParse(entry), quote, {
    one: "is not an absolute URI",
    many: "are not absolute URIs",
    advice: "give each URI a scheme, as in spiffe://cluster.local/ns/my-namespace/sa/my-account",
  })

const isKeyUsage = (usage: string): usage is KeyUsage => (KeyUsages as ReadonlyArray<string>).includes(usage)

export const keyUsages = (raw: string, quote: Quote): Checked<ReadonlyArray<KeyUsage>> => {
  const entries = list(raw)
  if (entries.length === 0) {
    return fail(
      `${quote(raw)} lists no key usages; leave the attribute out for the default (digital signature,key encipherment) or list usages such as server auth,client auth`,
    )
  }
  const unknown = new Sample<string>()
  for (const entry of entries) if (!isKeyUsage(entry)) unknown.add(entry)
  if (unknown.total === 0) return Result.succeed(entries.filter(isKeyUsage))
  // Suggestions for the entries shown only: each costs an edit distance per usage.
  const described = unknown.items.map((entry) => {
    const near = nearest(entry, KeyUsages)
    return near === undefined ? quote(entry) : `${quote(entry)} (did you mean "${near}"?)`
  })
  return fail(
    `${firstFew(described, unknown.total)} ${unknown.total === 1 ? "is not a key usage" : "are not key usages"}; the valid usages are ${oneOf(KeyUsages)}`,
  )
}

const algorithms: ReadonlyArray<KeyAlgorithm> = ["RSA", "ECDSA", "Ed25519"]

export const keyAlgorithm = (raw: string, quote: Quote): Checked<KeyAlgorithm> => {
  const algorithm = algorithms.find((name) => name.toLowerCase() === raw.toLowerCase())
  return algorithm !== undefined
    ? Result.succeed(algorithm)
    : fail(`${quote(raw)} is not a key algorithm; use ${oneOf(algorithms)}`)
}

export const keySize = (raw: string, quote: Quote): Checked<number> =>
  /^[0-9]+$/.test(raw)
    ? Result.succeed(Number(raw))
    : fail(
        `${quote(raw)} is not a key size; use a whole number of bits, such as 2048 for RSA or 256 for ECDSA`,
      )

const encodings: ReadonlyArray<KeyEncoding> = ["PKCS1", "PKCS8"]

export const keyEncoding = (raw: string, quote: Quote): Checked<KeyEncoding> => {
  const encoding = encodings.find((name) => name === raw)
  return encoding !== undefined
    ? Result.succeed(encoding)
    : fail(`${quote(raw)} is not a key encoding; use ${oneOf(encodings)}`)
}

const profiles: ReadonlyArray<Pkcs12Profile> = ["LegacyRC2", "LegacyDES", "Modern2023"]

export const pkcs12Profile = (raw: string, quote: Quote): Checked<Pkcs12Profile> => {
  const profile = profiles.find((name) => name === raw)
  return profile !== undefined
    ? Result.succeed(profile)
    : fail(`${quote(raw)} is not a PKCS#12 profile; use ${oneOf(profiles)}`)
}

/** A file name inside the volume; `example` is what the message suggests instead. */
export const fileName =
  (example: string) =>
  (raw: string, quote: Quote): Checked<string> => {
    const reasons: Array<string> = []
    if (raw.startsWith("/")) reasons.push("is an absolute path")
    if (raw.includes("/")) reasons.push('contains "/"')
    if (raw.startsWith("..")) reasons.push('starts with ".."')
    if (raw === ".") reasons.push('is "."')
    if (Buffer.byteLength(raw, "utf8") > 255) reasons.push("is longer than 255 bytes")
    if (raw !== raw.trim()) reasons.push("has leading or trailing spaces")
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
    if (/[\u0000-\u001f\u007f]/.test(raw)) reasons.push("contains a control character")
    return reasons.length === 0
      ? Result.succeed(raw)
      : fail(
          `${quote(raw)} is not a plain file name: it ${oneOf(reasons, "and")}; use a name such as ${example}`,
        )
  }

export const MaxGroupId = 4294967294

/** A group ID for the written files: 1..4294967294 (0 is root; 2^32-1 is "no group"). */
export const groupId = (raw: string, quote: Quote): Checked<number> => {
  const id = /^[0-9]+$/.test(raw) ? Number(raw) : Number.NaN
  return id >= 1 && id <= MaxGroupId
    ? Result.succeed(id)
    : fail(`${quote(raw)} is not a group ID; use an integer from 1 to ${MaxGroupId}`)
}

// The attribute types the CSR builder (pki/subject.ts) knows, by name or numeric OID.
const subjectTypes = ["CN", "O", "OU", "C", "ST", "L", "STREET", "POSTALCODE", "SERIALNUMBER", "DC", "UID"]
const numericOid = /^[0-2](\.(0|[1-9][0-9]*))+$/

// Splits at unescaped, unquoted `,` `+` `;`, or says which escape or quote is unfinished.
const splitRdns = (text: string): ReadonlyArray<string> | "dangling escape" | "unterminated quote" => {
  const parts: Array<string> = []
  let current = ""
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === "\\") {
      if (i + 1 >= text.length) return "dangling escape"
      current += c + text[i + 1]
      i++
    } else if (c === '"') {
      quoted = !quoted
      current += c
    } else if (!quoted && (c === "," || c === "+" || c === ";")) {
      parts.push(current)
      current = ""
    } else {
      current += c
    }
  }
  if (quoted) return "unterminated quote"
  parts.push(current)
  return parts
}

/** A light RFC 4514 check: `TYPE=value` pairs of known types, separated by `,` or `+`. */
export const literalSubject = (raw: string, quote: Quote): Checked<string> => {
  const advice =
    "write it as comma-separated TYPE=value pairs such as CN=my-app,O=my-org, escaping a comma in a value as \\,"
  const invalid = (why: string) =>
    fail(`${quote(raw)} is not an RFC 4514 distinguished name: ${why}; ${advice}`)
  if (raw.trim() === "") return fail(`${quote(raw)} is blank; ${advice}`)
  const parts = splitRdns(raw)
  if (parts === "dangling escape") return invalid('it ends with an unfinished "\\" escape')
  if (parts === "unterminated quote") return invalid("a quoted value is not closed")
  for (const part of parts) {
    const eq = part.indexOf("=")
    if (part.trim() === "") return invalid("it has an empty part (two separators in a row, or one at an end)")
    if (eq < 0) return invalid(`${quote(part.trim())} is not TYPE=value`)
    const type = part.slice(0, eq).trim()
    if (!subjectTypes.includes(type.toUpperCase()) && !numericOid.test(type)) {
      return invalid(`${quote(type)} is not an attribute type (use ${oneOf(subjectTypes)} or a numeric OID)`)
    }
    if (
      part
        .slice(eq + 1)
        .trimStart()
        .startsWith("#")
    )
      return invalid(`the value of ${quote(type)} is hex-encoded (#...), which is not supported`)
  }
  return Result.succeed(raw)
}

/** Any string: for attributes without a syntax of their own. */
export const text = (raw: string): Checked<string> => Result.succeed(raw)

/**
 * Reads the pod's service-account token that kubelet passes when the CSIDriver has
 * `tokenRequests`: JSON `{"<audience>": {"token", "expirationTimestamp"}}` under
 * `csi.storage.k8s.io/serviceAccount.tokens`, in `volume_context` or, on newer
 * kubelets, in `secrets`. Only the API server audience ("") can create requests.
 *
 * Kubelet writes that value itself, so anything else is refused here, before a
 * malformed token can reach the API server and come back as a 401: every audience
 * must map to a non-empty token and an RFC 3339 expiry, and the "" audience must be
 * there. Problems name the key and the audience, never a token or a timestamp.
 */
import { Redacted, Result, Schema } from "effect"
import { ServiceAccountTokensKey } from "../attributes/keys.js"
import { formatCount, quoted, Sample } from "../bounded.js"

export interface ServiceAccountToken {
  readonly token: Redacted.Redacted<string>
  /** Always set for a token from kubelet; tests may leave it out for one that never expires. */
  readonly expiresAt: Date | undefined
}

export type TokenLookup =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Found"; readonly token: ServiceAccountToken }
  | { readonly _tag: "Invalid"; readonly problem: string }

const decodeJson = Schema.decodeUnknownResult(Schema.fromJsonString(Schema.Unknown))

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/

/** The instant of an RFC 3339 time as Go's time.RFC3339 reads it; undefined for anything else. */
export const parseRfc3339 = (text: string): Date | undefined => {
  const m = rfc3339.exec(text)
  if (m === null) return undefined
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = m
    .slice(1)
    .map((part) => (part === undefined ? 0 : Number(part)))
  // Date.parse accepts February 30 and 24:00; Go does not.
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate()
  const valid =
    month! >= 1 &&
    month! <= 12 &&
    day! >= 1 &&
    day! <= daysInMonth &&
    hour! <= 23 &&
    minute! <= 59 &&
    second! <= 59 &&
    offsetHours! <= 23 &&
    offsetMinutes! <= 59
  const instant = Date.parse(text.toUpperCase())
  return valid && !Number.isNaN(instant) ? new Date(instant) : undefined
}

// A bearer token travels in an HTTP header: visible ASCII only, as RFC 6750's b64token and JWTs are.
const headerSafe = /^[\x21-\x7e]+$/

/** What is wrong with one audience's entry, or its token. */
const checkEntry = (entry: unknown): Result.Result<ServiceAccountToken, string> => {
  if (!isRecord(entry)) return Result.fail("is not an object with token and expirationTimestamp")
  const problems: Array<string> = []
  const token = entry.token
  if (typeof token !== "string") problems.push("token is missing or not a string")
  else if (token === "") problems.push("token is empty")
  else if (!headerSafe.test(token)) problems.push("token has characters a bearer token cannot carry")
  const expiry = entry.expirationTimestamp
  const expiresAt = typeof expiry === "string" ? parseRfc3339(expiry) : undefined
  if (expiresAt === undefined) {
    problems.push("expirationTimestamp is not an RFC 3339 time such as 2030-01-01T00:00:00Z")
  }
  if (problems.length > 0 || typeof token !== "string" || expiresAt === undefined) {
    return Result.fail(problems.join(" and "))
  }
  return Result.succeed({ token: Redacted.make(token), expiresAt })
}

const advice =
  'kubelet writes {"<audience>": {"token": ..., "expirationTimestamp": ...}} for the tokenRequests of the CSIDriver object'

const invalid = (problem: string): TokenLookup => ({
  _tag: "Invalid",
  problem: `${ServiceAccountTokensKey} ${problem}`,
})

export const tokenOf = (
  context: Readonly<Record<string, string>>,
  secrets: Readonly<Record<string, string>>,
): TokenLookup => {
  const raw = secrets[ServiceAccountTokensKey] ?? context[ServiceAccountTokensKey]
  if (raw === undefined || raw === "") return { _tag: "Absent" }
  // The decoder's messages could quote the token: say only where the problem is.
  const parsed = decodeJson(raw)
  if (Result.isFailure(parsed)) return invalid(`is not JSON; ${advice}`)
  const audiences = parsed.success
  if (!isRecord(audiences)) return invalid(`is not a JSON object of audiences; ${advice}`)
  const bad = new Sample<string>()
  let found: ServiceAccountToken | undefined
  for (const [audience, entry] of Object.entries(audiences)) {
    const checked = checkEntry(entry)
    if (Result.isFailure(checked)) bad.add(`audience ${quoted(audience)}: ${checked.failure}`)
    else if (audience === "") found = checked.success
  }
  if (bad.total > 0) {
    const rest = bad.total - bad.items.length
    const more = rest > 0 ? `; and ${formatCount(rest)} more audiences` : ""
    return invalid(`is not what kubelet writes: ${bad.items.join("; ")}${more}`)
  }
  if (found === undefined) {
    return invalid(
      'has no token for the API server audience: add {audience: ""} to tokenRequests on the CSIDriver object',
    )
  }
  return { _tag: "Found", token: found }
}

/**
 * The token for a publish. Without --use-token-request the value is not read at all:
 * requests are created as the driver, kubelet sends tokens only when the CSIDriver
 * asks for them (and then well-formed), and upstream ignores them in this mode, so a
 * hand-written or stale value is no reason to refuse a mount. It is never stored.
 */
export const tokenFor = (
  context: Readonly<Record<string, string>>,
  secrets: Readonly<Record<string, string>>,
  useTokenRequest: boolean,
): TokenLookup => (useTokenRequest ? tokenOf(context, secrets) : { _tag: "Absent" })

/**
 * Sorting `volume_context` keys into the driver's attributes, kubelet's keys and
 * foreign annotations, and turning the rest (typos, missing group prefixes) into
 * problems that name the nearest attribute: upstream ignores them silently.
 */
import { type AttributeKey, AttributeKeys, CertManagerGroup, isAttributeKey, KubeletGroup } from "./keys.js"

/**
 * Optimal-string-alignment distance: insertions, deletions, substitutions and
 * swaps of neighbours each cost one (a swap is the commonest typo).
 */
export const editDistance = (a: string, b: string): number => {
  const rows: Array<Array<number>> = []
  for (let i = 0; i <= a.length; i++) {
    const row: Array<number> = [i]
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j)
        continue
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2]![j - 2]! + 1)
      }
      row.push(best)
    }
    rows.push(row)
  }
  return rows[a.length]![b.length]!
}

/**
 * Whether the optimal-string-alignment distance of `a` and `b` is at most `limit`:
 * only the cells within `limit` of the diagonal are computed, and it stops as soon as
 * a row has none within the limit, so a key that is nothing like `b` costs a few steps.
 */
export const isWithinDistance = (a: string, b: string, limit: number): boolean => {
  if (Math.abs(a.length - b.length) > limit) return false
  const beyond = limit + 1
  let before: Array<number> = []
  let previous: Array<number> = []
  for (let i = 0; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1).fill(beyond)
    const from = Math.max(0, i - limit)
    const to = Math.min(b.length, i + limit)
    let rowBest = beyond
    for (let j = from; j <= to; j++) {
      let best: number
      if (i === 0) best = j
      else if (j === 0) best = i
      else {
        const cost = a[i - 1] === b[j - 1] ? 0 : 1
        best = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost)
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
          best = Math.min(best, before[j - 2]! + 1)
        }
      }
      row[j] = Math.min(best, beyond)
      rowBest = Math.min(rowBest, row[j]!)
    }
    if (rowBest > limit) return false
    before = previous
    previous = row
  }
  return previous[b.length]! <= limit
}

// Case and separators are the least meaningful differences: `DNS_Names` is `dns-names`.
const normalize = (s: string): string => s.toLowerCase().replace(/[-_.\s]/g, "")

/**
 * The candidate nearest to `word`, if near enough to be what was meant: within a
 * quarter of its length (at least one edit), ignoring case and `-`, `_`, `.`.
 * Ties go to the earlier candidate.
 */
export const nearest = (word: string, candidates: ReadonlyArray<string>): string | undefined => {
  const target = normalize(word)
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of candidates) {
    const normalized = normalize(candidate)
    const limit = Math.max(1, Math.floor(normalized.length / 4))
    // The distance is at least the difference in length: a long word is no typo of a short one.
    if (Math.abs(target.length - normalized.length) > limit) continue
    const distance = editDistance(target, normalized)
    if (distance <= limit && distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

const prefix = `${CertManagerGroup}/`
const shortNames = AttributeKeys.map((key) => key.slice(prefix.length))

/** The attribute key nearest to a mistyped one, with or without its group prefix. */
export const suggestKey = (key: string): AttributeKey | undefined => {
  const name = key.includes("/") ? key.slice(key.indexOf("/") + 1) : key
  const near = nearest(name, shortNames)
  return near === undefined ? undefined : (`${prefix}${near}` as AttributeKey)
}

/** What a `volume_context` key is to this parser. */
export type KeyClass =
  /** One of the driver's attributes. */
  | { readonly _tag: "Attribute"; readonly key: AttributeKey }
  /** Added by kubelet (`csi.storage.k8s.io/*`): not an attribute, ignored here. */
  | { readonly _tag: "Kubelet" }
  /** A key of another group: copied onto the CertificateRequest as an annotation. */
  | { readonly _tag: "Annotation" }
  /** A mistake: `message` says what to write instead. */
  | { readonly _tag: "Unknown"; readonly message: string }

const supported = `known names after ${prefix}: ${shortNames.join(", ")}`

const lookalikeDistance = 2
const knownLengths = AttributeKeys.map((known) => known.length)
const shortestKnown = Math.min(...knownLengths)
const longestKnown = Math.max(...knownLengths)

/** The attribute a key of another group is a typo of, if any: within two edits, ignoring case. */
const lookalikeOf = (key: string): AttributeKey | undefined => {
  if (key.length < shortestKnown - lookalikeDistance || key.length > longestKnown + lookalikeDistance) {
    return undefined
  }
  const lower = key.toLowerCase()
  return AttributeKeys.find((known) => isWithinDistance(lower, known, lookalikeDistance))
}

const dnsLabel = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
const annotationPrefix = new RegExp(`^(?=.{1,253}$)${dnsLabel}(\\.${dnsLabel})*$`)
const annotationName = /^(?=.{1,63}$)([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/

/**
 * Whether the API server takes `key` as an annotation key: a qualified name, `<prefix>/<name>`
 * with a DNS-1123 subdomain prefix (compared in lower case, as the API server does) and a
 * name of at most 63 letters, digits, '-', '_' and '.'. Anything else would have the
 * CertificateRequest refused at create, after the key was made.
 */
const isAnnotationKey = (key: string, slash: number): boolean =>
  annotationPrefix.test(key.slice(0, slash).toLowerCase()) && annotationName.test(key.slice(slash + 1))

/**
 * What a key is, without the message an unknown one gets: cheap enough for every
 * key of a request with thousands (`classifyKey` adds the message and suggestion).
 */
export const kindOfKey = (key: string): KeyClass["_tag"] => {
  if (isAttributeKey(key)) return "Attribute"
  const slash = key.indexOf("/")
  if (slash < 0) return "Unknown"
  const group = key.slice(0, slash)
  if (group === KubeletGroup) return "Kubelet"
  if (group === CertManagerGroup) return "Unknown"
  return lookalikeOf(key) === undefined && isAnnotationKey(key, slash) ? "Annotation" : "Unknown"
}

export const classifyKey = (key: string): KeyClass => {
  if (isAttributeKey(key)) return { _tag: "Attribute", key }
  const slash = key.indexOf("/")
  if (slash < 0) {
    const suggestion = suggestKey(key)
    return {
      _tag: "Unknown",
      message:
        suggestion !== undefined
          ? `attribute has no group prefix; did you mean ${suggestion}?`
          : `attribute has no group prefix; write this driver's attributes as ${prefix}<name>, and give other keys a group (example.com/<name>) to have them copied as annotations`,
    }
  }
  const group = key.slice(0, slash)
  if (group === KubeletGroup) return { _tag: "Kubelet" }
  if (group === CertManagerGroup) {
    const suggestion = suggestKey(key)
    return {
      _tag: "Unknown",
      message:
        suggestion !== undefined
          ? `unknown attribute; did you mean ${suggestion}?`
          : `unknown attribute; remove it or fix its name (${supported})`,
    }
  }
  // A misspelt group would otherwise turn an attribute into an annotation unnoticed.
  const lookalike = lookalikeOf(key)
  if (lookalike !== undefined) {
    return {
      _tag: "Unknown",
      message: `unknown attribute; did you mean ${lookalike}? (as written it would only be copied as an annotation)`,
    }
  }
  if (!isAnnotationKey(key, slash)) {
    return {
      _tag: "Unknown",
      message:
        "keys of other groups are copied onto the CertificateRequest as annotations, and this is not a valid annotation key: <prefix>/<name>, the prefix a DNS subdomain (≤ 253), the name ≤ 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
    }
  }
  return { _tag: "Annotation" }
}

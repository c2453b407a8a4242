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
    const distance = editDistance(target, normalized)
    if (distance <= Math.max(1, Math.floor(normalized.length / 4)) && distance < bestDistance) {
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
  const lookalike = AttributeKeys.find((known) => editDistance(key.toLowerCase(), known) <= 2)
  if (lookalike !== undefined) {
    return {
      _tag: "Unknown",
      message: `unknown attribute; did you mean ${lookalike}? (as written it would only be copied as an annotation)`,
    }
  }
  return { _tag: "Annotation" }
}

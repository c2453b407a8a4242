/**
 * Bounds on text built from input: gRPC status messages (kubelet shows them as pod
 * events), pod events and log lines. A list shows its first few entries and counts
 * the rest, a value is quoted and cut, and a whole message is cut at 2 KiB — gRPC
 * clients refuse status trailers much larger than that, and a 10,000-entry list
 * must not become a 2 MB answer. Pure; no module here knows what the text is about.
 */

/** The most bytes (UTF-8) of any one message built from input. */
export const maxMessageBytes = 2048

/** Entries of a list shown before "and N more". */
export const shownEntries = 3

/** Characters of one value shown before it is cut. */
export const maxValueChars = 100

const encoder = new TextEncoder()

/** `1,234`: how counts appear in messages (Intl's formatter costs ~10 µs a call). */
export const formatCount = (n: number): string => String(Math.trunc(n)).replace(/\B(?=(\d{3})+$)/g, ",")

/** The longest prefix of `text` that fits in `maxBytes` UTF-8 bytes, never splitting a character. */
const prefixInBytes = (text: string, maxBytes: number): string => {
  // Three bytes per UTF-16 unit at most: shorter texts fit as they are.
  if (text.length * 3 <= maxBytes) return text
  const { read } = encoder.encodeInto(text, new Uint8Array(Math.max(0, maxBytes)))
  return text.slice(0, read)
}

/**
 * `text` when it fits in `maxBytes` UTF-8 bytes; otherwise its start and how much
 * was cut, within `maxBytes` in all.
 */
export const cutToBytes = (text: string, maxBytes = maxMessageBytes): string => {
  const fits = prefixInBytes(text, maxBytes)
  if (fits.length === text.length) return text
  const suffix = ` … (cut: ${formatCount(text.length)} characters in all)`
  return `${prefixInBytes(text, maxBytes - Buffer.byteLength(suffix))}${suffix}`
}

/**
 * `value` JSON-quoted; a long one shows its first characters and its length, so
 * a 1 MB value costs a message a hundred bytes.
 */
export const quoted = (value: string, maxChars = maxValueChars): string => {
  if (value.length <= maxChars) return JSON.stringify(value)
  // A cut between the halves of a surrogate pair would leave half a character.
  const end = /[\uD800-\uDBFF]/.test(value.charAt(maxChars - 1)) ? maxChars - 1 : maxChars
  return `${JSON.stringify(value.slice(0, end))}… (${formatCount(value.length)} characters)`
}

const plainName = /^[A-Za-z0-9._~/-]{1,128}$/

/** A key or other name as it is when plain and short, else quoted and cut. */
export const named = (name: string): string => (plainName.test(name) ? name : quoted(name))

/** Joins words as English does: `a`, `a or b`, `a, b or c`. */
export const oneOf = (words: ReadonlyArray<string>, conjunction = "or"): string =>
  words.length <= 1 ? words.join("") : `${words.slice(0, -1).join(", ")} ${conjunction} ${words.at(-1)}`

/**
 * The first entries of a list of `total`, then how many more: `a, b and c`, or
 * `a, b, c and 9,997 more`. `shown` holds at most `shownEntries` of them.
 */
export const firstFew = (shown: ReadonlyArray<string>, total = shown.length, conjunction = "and"): string => {
  const first = shown.slice(0, shownEntries)
  const rest = total - first.length
  return rest <= 0
    ? oneOf(first, conjunction)
    : `${first.join(", ")} ${conjunction} ${formatCount(rest)} more`
}

/**
 * Keeps the first few of what it is given and counts everything, so a list of any
 * length is summarized without being held.
 */
export class Sample<A> {
  private readonly kept: Array<A> = []
  private seen = 0
  readonly limit: number

  constructor(limit: number = shownEntries) {
    this.limit = limit
  }

  add(item: A): void {
    this.seen += 1
    if (this.kept.length < this.limit) this.kept.push(item)
  }

  get items(): ReadonlyArray<A> {
    return this.kept
  }

  get total(): number {
    return this.seen
  }
}

/**
 * Lines joined while the whole fits in `maxBytes`, then "and N more <noun>s" for
 * those left out (`total` counts lines not even given). A first line too long on
 * its own is cut.
 */
export const joinWithin = (
  lines: ReadonlyArray<string>,
  options: {
    readonly separator: string
    readonly noun: string
    readonly total?: number
    readonly maxBytes?: number
  },
): string => {
  const total = Math.max(options.total ?? lines.length, lines.length)
  const maxBytes = options.maxBytes ?? maxMessageBytes
  // Room for the longest tail this can need.
  const tail = (rest: number) =>
    `${options.separator}and ${formatCount(rest)} more ${options.noun}${rest === 1 ? "" : "s"}`
  const tailRoom = Buffer.byteLength(tail(total))
  const taken: Array<string> = []
  let used = 0
  for (const line of lines) {
    const bytes = Buffer.byteLength(line) + (taken.length === 0 ? 0 : Buffer.byteLength(options.separator))
    const last = taken.length + 1 === total
    if (used + bytes > maxBytes - (last ? 0 : tailRoom)) break
    taken.push(line)
    used += bytes
  }
  if (taken.length === 0 && lines.length > 0) taken.push(cutToBytes(lines[0]!, maxBytes - tailRoom))
  const rest = total - taken.length
  const text = taken.join(options.separator)
  return rest <= 0 ? text : `${text}${tail(rest)}`
}

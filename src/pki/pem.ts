/**
 * A strict reader for PEM text from outside (an issuer's answer): the text must be
 * one or more PEM blocks and nothing else, whitespace aside — no explanatory text
 * before, between or after them, no headers, bodies in canonical base64. Problems
 * are described without quoting the input (only a block's label, which is short
 * and checked), so a description can go into a message or an event as it is.
 */
import { Result } from "effect"
import { pem, pemOfBase64 } from "./der.js"

export interface PemBlock {
  readonly label: string
  readonly der: Uint8Array
  /** The body as one line of (canonical) base64: what `der` encodes to. */
  readonly base64: string
}

export type PemProblem =
  | { readonly _tag: "Empty"; readonly message: string }
  /** Something other than whitespace outside the blocks. */
  | { readonly _tag: "ExtraData"; readonly message: string }
  | { readonly _tag: "TooManyBlocks"; readonly message: string }
  /** A block's armour or body is broken. */
  | { readonly _tag: "Malformed"; readonly message: string }

const begin = "-----BEGIN "
const end = "-----END "
const dashes = "-----"
/** RFC 7468 labels: printable ASCII, single spaces or hyphens inside; kept short for messages. */
const labelPattern = /^[\x21-\x2c\x2e-\x7e]+(?:[ -][\x21-\x2c\x2e-\x7e]+)*$/
const maxLabelLength = 64
const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/
const whitespace = /[ \t\r\n]/g

const isSpace = (code: number) => code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d
const isLineBreak = (code: number) => code === 0x0a || code === 0x0d
const isBlank = (code: number) => code === 0x20 || code === 0x09

const skipSpace = (text: string, from: number): number => {
  let at = from
  while (at < text.length && isSpace(text.charCodeAt(at))) at++
  return at
}

/** Characters other than whitespace in text[from, to). */
const countNonSpace = (text: string, from: number, to: number): number => {
  let n = 0
  for (let at = from; at < to; at++) if (!isSpace(text.charCodeAt(at))) n++
  return n
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

/** Base64 that re-encodes to itself: right alphabet, padding and zero trailing bits. */
const decodeCanonicalBase64 = (body: string): Uint8Array | undefined => {
  if (body.length === 0 || body.length % 4 !== 0 || !base64Pattern.test(body)) return undefined
  const bytes = Buffer.from(body, "base64")
  // A copy of its own: a small Buffer is a view of a shared 8 KiB slab that it would keep alive.
  return bytes.toString("base64") === body ? new Uint8Array(bytes) : undefined
}

/** Text that is not a block: where it is and how much, never what. */
const extraData = (text: string, at: number, blocksSoFar: number): PemProblem => {
  const next = text.indexOf(begin, at + 1)
  const stop = next === -1 ? text.length : next
  const amount = plural(countNonSpace(text, at, stop), "character")
  if (blocksSoFar === 0 && next === -1)
    return { _tag: "Malformed", message: `${amount} of text and no PEM block` }
  const where =
    blocksSoFar === 0
      ? "before the first PEM block"
      : next === -1
        ? "after the last PEM block"
        : `between PEM blocks ${blocksSoFar} and ${blocksSoFar + 1}`
  return { _tag: "ExtraData", message: `${amount} of other text ${where}` }
}

const malformed = (index: number, what: string): PemProblem => ({
  _tag: "Malformed",
  message: `PEM block ${index} ${what}`,
})

/** Reads every block of `text`; at most `maxBlocks` of them. */
export const readPem = (
  text: string,
  maxBlocks: number,
): Result.Result<ReadonlyArray<PemBlock>, PemProblem> => {
  const blocks: Array<PemBlock> = []
  let at = skipSpace(text, 0)
  while (at < text.length) {
    if (!text.startsWith(begin, at)) return Result.fail(extraData(text, at, blocks.length))
    const index = blocks.length + 1
    if (index > maxBlocks) {
      return Result.fail({ _tag: "TooManyBlocks", message: `more than ${maxBlocks} PEM blocks` })
    }
    const labelStart = at + begin.length
    const labelEnd = text.indexOf(dashes, labelStart)
    const label = labelEnd === -1 ? "" : text.slice(labelStart, labelEnd)
    if (labelEnd === -1 || label.length > maxLabelLength || !labelPattern.test(label)) {
      return Result.fail(malformed(index, `has no valid label on its BEGIN line`))
    }
    const bodyStart = labelEnd + dashes.length
    let lineEnd = bodyStart
    while (lineEnd < text.length && isBlank(text.charCodeAt(lineEnd))) lineEnd++
    if (lineEnd < text.length && !isLineBreak(text.charCodeAt(lineEnd))) {
      return Result.fail(malformed(index, `(${JSON.stringify(label)}) has more text on its BEGIN line`))
    }
    const closing = `${end}${label}${dashes}`
    const endAt = text.indexOf(end, bodyStart)
    if (endAt === -1) return Result.fail(malformed(index, `(${JSON.stringify(label)}) has no END line`))
    if (!text.startsWith(closing, endAt)) {
      return Result.fail(
        malformed(index, `(${JSON.stringify(label)}) ends with an END line of another label`),
      )
    }
    const base64 = text.slice(bodyStart, endAt).replace(whitespace, "")
    const der = decodeCanonicalBase64(base64)
    if (der === undefined) {
      return Result.fail(
        malformed(index, `(${JSON.stringify(label)}) has headers or a body that is not canonical base64`),
      )
    }
    blocks.push({ label, der, base64 })
    at = endAt + closing.length
    // An END line ends its line: "-----END X----------BEGIN X-----" is not two blocks.
    if (at < text.length && !isSpace(text.charCodeAt(at)))
      return Result.fail(extraData(text, at, blocks.length))
    at = skipSpace(text, at)
  }
  if (blocks.length === 0) return Result.fail({ _tag: "Empty", message: "no PEM block" })
  return Result.succeed(blocks)
}

/** One block, normalized: 64-character lines and one trailing newline. */
export const writePem = (label: string, der: Uint8Array): string => `${pem(label, der)}\n`

/** A block read by `readPem`, normalized as `writePem` writes it, without encoding its bytes again. */
export const writePemBlock = (block: PemBlock): string => `${pemOfBase64(block.label, block.base64)}\n`

/**
 * The JSON log line, built directly when every message and annotation is a
 * primitive (string, number, boolean, null, undefined), as all the driver's
 * hot-path lines are. Effect's `Logger.formatJson` walks the structured record
 * with a redacting replacer, most of what formatting a line costs; for
 * primitives that walk changes nothing, so plain `JSON.stringify` gives the
 * same bytes. Anything else (objects, arrays, Redacted, errors, bigint, a
 * cause) goes through Effect's formatter as before, so redaction and every
 * other rendering stay Effect's.
 */
import { Logger, References } from "effect"

/** Values that Effect's structured message leaves as they are and JSON.stringify renders natively. */
const isPlain = (value: unknown): boolean => {
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
    case "undefined":
      return true
    default:
      return value === null
  }
}

/**
 * The line `Logger.formatJson` would give, or undefined when a value is not
 * plain and Effect's formatter must render it.
 */
export const plainJsonLine = (options: Logger.Options<unknown>): string | undefined => {
  const { cause, date, fiber, logLevel, message } = options
  if (cause.reasons.length > 0) return undefined
  const messages: ReadonlyArray<unknown> = Array.isArray(message) ? message : [message]
  for (let i = 0; i < messages.length; i++) if (!isPlain(messages[i])) return undefined
  const annotations = fiber.getRef(References.CurrentLogAnnotations)
  for (const key in annotations) {
    if (Object.hasOwn(annotations, key) && !isPlain(annotations[key])) return undefined
  }
  // One message is rendered alone (and an undefined one drops the key, as JSON.stringify does).
  const messageJson = messages.length === 1 ? JSON.stringify(messages[0]) : JSON.stringify(messages)
  const spans = fiber.getRef(References.CurrentLogSpans)
  let spansJson = "{}"
  if (spans.length > 0) {
    // A null-prototype record keeps a "__proto__" label as an own key and repeated labels in
    // first-seen order with the last value, as Effect's record does.
    const record: Record<string, number> = Object.create(null)
    const now = date.getTime()
    for (const [label, timestamp] of spans) record[label] = now - timestamp
    spansJson = JSON.stringify(record)
  }
  return `{${messageJson === undefined ? "" : `"message":${messageJson},`}"level":${JSON.stringify(logLevel.toUpperCase())},"timestamp":"${date.toISOString()}","annotations":${JSON.stringify(annotations)},"spans":${spansJson},"fiberId":"#${fiber.id}"}`
}

/** `Logger.formatJson`, byte for byte, without its replacer walk for lines of plain values. */
export const formatJson: Logger.Logger<unknown, string> = Logger.make(
  (options) => plainJsonLine(options) ?? Logger.formatJson.log(options),
)

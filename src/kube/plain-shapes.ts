/**
 * The checks the hand-written watch decoders (certificate-request.ts, pod.ts) share: what
 * Schema takes for a struct and for a record of strings, without its generic interpreter.
 */

export type Struct = Readonly<Record<string, unknown>>

/** What Schema takes for a struct: an object, not an array. */
export const isStruct = (value: unknown): value is Struct =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Schema.Record(Schema.String, Schema.String)'s decode: a copy when every own key's value
 * is a string, else undefined. A JSON key "__proto__" is an own property, and stays one.
 */
export const stringRecord = (raw: unknown): Record<string, string> | undefined => {
  if (!isStruct(raw)) return undefined
  const out: Record<string, string> = {}
  for (const key of Object.keys(raw)) {
    const value = raw[key]
    if (typeof value !== "string") return undefined
    if (key === "__proto__")
      Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true })
    else out[key] = value
  }
  return out
}

/**
 * Every one-step corruption of a JSON value: at each path, each hostile value in place of
 * what is there, and the key removed. For checking a hand-written decoder against the
 * Schema it stands for, over the wrong types and missing fields a hostile API server sends.
 */
import { Result } from "effect"
import { expect } from "vitest"

const hostile: ReadonlyArray<unknown> = [
  undefined,
  null,
  0,
  -1.5,
  true,
  "",
  "x".repeat(100_000),
  [],
  ["a"],
  [{}],
  {},
  { __proto__: null, name: "n" },
  JSON.parse('{"__proto__": "p"}'),
  new Date(0),
]

const removed = Symbol("removed")

const replaced = (value: unknown, path: ReadonlyArray<string | number>, by: unknown): unknown => {
  if (path.length === 0) return by
  const [head, ...rest] = path
  if (Array.isArray(value)) {
    const copy = [...value]
    if (by === removed && rest.length === 0) copy.splice(Number(head), 1)
    else copy[Number(head)] = replaced(copy[Number(head)], rest, by)
    return copy
  }
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) }
  if (by === removed && rest.length === 0) delete copy[String(head)]
  else copy[String(head)] = replaced(copy[String(head)], rest, by)
  return copy
}

const pathsOf = (value: unknown, at: ReadonlyArray<string | number> = []): Array<Array<string | number>> => {
  const here = [[...at]]
  if (Array.isArray(value)) return [...here, ...value.flatMap((item, i) => pathsOf(item, [...at, i]))]
  if (typeof value === "object" && value !== null)
    return [...here, ...Object.entries(value).flatMap(([key, item]) => pathsOf(item, [...at, key]))]
  return here
}

export function* mutationsOf(value: unknown): Generator<{ readonly what: string; readonly value: unknown }> {
  for (const path of pathsOf(value)) {
    const where = path.join(".") || "(root)"
    for (const [i, by] of hostile.entries())
      yield { what: `${where} = hostile[${i}]`, value: replaced(value, path, by) }
    if (path.length > 0) yield { what: `${where} removed`, value: replaced(value, path, removed) }
    if (path.length > 0)
      yield { what: `${where} extra key`, value: replaced(value, [...path.slice(0, -1), "extra"], 1) }
  }
}

/**
 * Holds a hand-written decoder to the Schema decode it stands for, over every one-step
 * corruption of `full`: the same verdict each time, and the same value when both succeed.
 * Returns how many corruptions were checked.
 */
export const expectSameDecodes = <A>(
  full: unknown,
  decode: (raw: unknown) => Result.Result<A, unknown>,
  reference: (raw: unknown) => Result.Result<A, unknown>,
): number => {
  let checked = 0
  for (const { what, value } of mutationsOf(full)) {
    const expected = reference(value)
    const actual = decode(value)
    expect(Result.isSuccess(actual), what).toBe(Result.isSuccess(expected))
    if (Result.isSuccess(actual) && Result.isSuccess(expected))
      expect(actual.success, what).toStrictEqual(expected.success)
    checked++
  }
  return checked
}

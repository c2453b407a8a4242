/**
 * The PATCH bodies the apiserver accepts: JSON merge patch (RFC 7386), strategic merge
 * patch (applied as a merge patch, its `$`-directives dropped — enough for the scalar
 * fields clients touch here) and JSON patch (RFC 6902, all six operations; client-node's
 * default). Server-side apply is refused with 415, as a server without it would.
 */
import { Result } from "effect"
import { isJsonObject, type JsonObject, jsonEqual } from "./objects.js"
import { type ApiError, badRequest, failure, unsupportedMediaType } from "./status.js"

export type PatchType = "merge" | "strategic" | "json"

export const patchTypeOf = (contentType: string | undefined): Result.Result<PatchType, ApiError> => {
  const ct = (contentType ?? "").split(";")[0]!.trim().toLowerCase()
  switch (ct) {
    case "application/merge-patch+json":
      return Result.succeed("merge")
    case "application/strategic-merge-patch+json":
      return Result.succeed("strategic")
    case "application/json-patch+json":
      return Result.succeed("json")
    default:
      return Result.fail(unsupportedMediaType(ct))
  }
}

/** RFC 7386: objects merge recursively, `null` removes a key, anything else replaces. */
export const mergePatch = (target: unknown, patch: unknown, strategic = false): unknown => {
  if (!isJsonObject(patch) || Array.isArray(patch)) return structuredClone(patch)
  const out: JsonObject = isJsonObject(target) && !Array.isArray(target) ? { ...target } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (strategic && key.startsWith("$")) continue
    if (value === null) delete out[key]
    else out[key] = mergePatch(out[key], value, strategic)
  }
  return out
}

const patchFailed = (why: string): ApiError =>
  failure(422, "Invalid", `the server rejected our request due to an error in our request: ${why}`)

const parsePointer = (pointer: string): Result.Result<Array<string>, ApiError> => {
  if (pointer === "") return Result.succeed([])
  if (!pointer.startsWith("/")) return Result.fail(badRequest(`invalid JSON pointer "${pointer}"`))
  return Result.succeed(
    pointer
      .slice(1)
      .split("/")
      .map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~")),
  )
}

type Container = JsonObject | Array<unknown>

/** Walks to the parent of the last token, copying containers on the way (the input is never mutated). */
const locate = (
  root: unknown,
  tokens: ReadonlyArray<string>,
): Result.Result<{ root: unknown; parent: Container; key: string }, ApiError> => {
  const copy = structuredClone(root)
  let cur: unknown = copy
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(token)]
    else if (isJsonObject(cur)) cur = cur[token]
    else cur = undefined
    if (cur === undefined) return Result.fail(patchFailed(`missing path "/${tokens.join("/")}"`))
  }
  if (!isJsonObject(cur) && !Array.isArray(cur))
    return Result.fail(patchFailed(`path "/${tokens.join("/")}" has no parent container`))
  return Result.succeed({ root: copy, parent: cur, key: tokens[tokens.length - 1]! })
}

const read = (doc: unknown, tokens: ReadonlyArray<string>): unknown => {
  let cur: unknown = doc
  for (const token of tokens) {
    if (Array.isArray(cur)) cur = cur[Number(token)]
    else if (isJsonObject(cur)) cur = cur[token]
    else return undefined
  }
  return cur
}

const arrayIndex = (arr: Array<unknown>, key: string, forAdd: boolean): number | undefined => {
  if (forAdd && key === "-") return arr.length
  if (!/^(0|[1-9][0-9]*)$/.test(key)) return undefined
  const i = Number(key)
  return i <= (forAdd ? arr.length : arr.length - 1) ? i : undefined
}

const add = (
  doc: unknown,
  tokens: ReadonlyArray<string>,
  value: unknown,
): Result.Result<unknown, ApiError> => {
  if (tokens.length === 0) return Result.succeed(structuredClone(value))
  return Result.flatMap(locate(doc, tokens), ({ root, parent, key }) => {
    if (Array.isArray(parent)) {
      const i = arrayIndex(parent, key, true)
      if (i === undefined) return Result.fail(patchFailed(`array index "${key}" out of range`))
      parent.splice(i, 0, structuredClone(value))
    } else {
      parent[key] = structuredClone(value)
    }
    return Result.succeed(root)
  })
}

const remove = (doc: unknown, tokens: ReadonlyArray<string>): Result.Result<unknown, ApiError> => {
  if (tokens.length === 0) return Result.fail(patchFailed("cannot remove the whole document"))
  return Result.flatMap(locate(doc, tokens), ({ root, parent, key }) => {
    if (Array.isArray(parent)) {
      const i = arrayIndex(parent, key, false)
      if (i === undefined) return Result.fail(patchFailed(`array index "${key}" out of range`))
      parent.splice(i, 1)
    } else {
      if (!Object.hasOwn(parent, key))
        return Result.fail(patchFailed(`unable to remove nonexistent key: ${key}`))
      delete parent[key]
    }
    return Result.succeed(root)
  })
}

const replace = (
  doc: unknown,
  tokens: ReadonlyArray<string>,
  value: unknown,
): Result.Result<unknown, ApiError> =>
  read(doc, tokens) === undefined
    ? Result.fail(patchFailed(`replace operation does not apply: doc is missing key: /${tokens.join("/")}`))
    : Result.flatMap(remove(doc, tokens), (d) => add(d, tokens, value))

/** Applies an RFC 6902 patch document. */
export const jsonPatch = (doc: unknown, patch: unknown): Result.Result<unknown, ApiError> => {
  if (!Array.isArray(patch)) return Result.fail(badRequest("a JSON patch must be an array of operations"))
  let cur: Result.Result<unknown, ApiError> = Result.succeed(doc)
  for (const op of patch) {
    cur = Result.flatMap(cur, (d) => applyOp(d, op))
  }
  return cur
}

const applyOp = (doc: unknown, op: unknown): Result.Result<unknown, ApiError> => {
  if (!isJsonObject(op) || typeof op.op !== "string" || typeof op.path !== "string") {
    return Result.fail(badRequest(`invalid JSON patch operation: ${JSON.stringify(op)}`))
  }
  const name = op.op
  const value = op.value
  const from = op.from
  return Result.flatMap(parsePointer(op.path), (path) => {
    switch (name) {
      case "add":
        return add(doc, path, value)
      case "remove":
        return remove(doc, path)
      case "replace":
        return replace(doc, path, value)
      case "test":
        return jsonEqual(read(doc, path), value)
          ? Result.succeed(doc)
          : Result.fail(patchFailed(`testing value ${op.path} failed`))
      case "move":
      case "copy": {
        if (typeof from !== "string") return Result.fail(badRequest(`"${name}" needs "from"`))
        return Result.flatMap(parsePointer(from), (src) => {
          const v = read(doc, src)
          if (v === undefined) return Result.fail(patchFailed(`missing path "${from}"`))
          const base = name === "move" ? remove(doc, src) : Result.succeed(doc)
          return Result.flatMap(base, (d) => add(d, path, v))
        })
      }
      default:
        return Result.fail(badRequest(`unknown JSON patch operation "${name}"`))
    }
  })
}

/** Applies a patch of the given type to `doc`; `body` is the raw request text. */
export const applyPatch = (
  type: PatchType,
  doc: unknown,
  body: unknown,
): Result.Result<unknown, ApiError> => {
  switch (type) {
    case "merge":
      return Result.succeed(mergePatch(doc, body))
    case "strategic":
      return Result.succeed(mergePatch(doc, body, true))
    case "json":
      return jsonPatch(doc, body)
  }
}

/**
 * Label and field selectors with the apiserver's grammar and matching rules:
 * labels take `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, `a>1`, `a<1`;
 * fields take `a=b`, `a==b`, `a!=b` with `\` escapes. `!=` and `notin` also match objects
 * that lack the key, as in Kubernetes.
 */
import { Result } from "effect"
import { type ApiError, badRequest } from "./status.js"

export type LabelRequirement =
  | { readonly op: "exists" | "!exists"; readonly key: string }
  | { readonly op: "in" | "notin"; readonly key: string; readonly values: ReadonlyArray<string> }
  | { readonly op: "gt" | "lt"; readonly key: string; readonly value: number }

export type LabelSelector = ReadonlyArray<LabelRequirement>

export interface FieldRequirement {
  readonly field: string
  readonly op: "=" | "!="
  readonly value: string
}

export type FieldSelector = ReadonlyArray<FieldRequirement>

type Token =
  | { readonly t: "id"; readonly v: string }
  | { readonly t: "!" | "=" | "==" | "!=" | "(" | ")" | "," | "<" | ">" | "end" }

const special = new Set([" ", "\t", "\n", "\r", ",", "=", "!", "(", ")", "<", ">"])

const lex = (input: string): Array<Token> => {
  const out: Array<Token> = []
  let i = 0
  while (i < input.length) {
    const c = input[i]!
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++
    } else if (c === "=" && input[i + 1] === "=") {
      out.push({ t: "==" })
      i += 2
    } else if (c === "!" && input[i + 1] === "=") {
      out.push({ t: "!=" })
      i += 2
    } else if (c === "!" || c === "=" || c === "(" || c === ")" || c === "," || c === "<" || c === ">") {
      out.push({ t: c })
      i++
    } else {
      let j = i
      while (j < input.length && !special.has(input[j]!)) j++
      out.push({ t: "id", v: input.slice(i, j) })
      i = j
    }
  }
  out.push({ t: "end" })
  return out
}

const namePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

const validKey = (key: string): boolean => {
  const slash = key.indexOf("/")
  const name = slash === -1 ? key : key.slice(slash + 1)
  const prefix = slash === -1 ? undefined : key.slice(0, slash)
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !dnsSubdomain.test(prefix)))
    return false
  return name.length > 0 && name.length <= 63 && namePart.test(name)
}

const validValue = (v: string): boolean => v === "" || (v.length <= 63 && namePart.test(v))

const parseError = (why: string): ApiError => badRequest(`unable to parse requirement: ${why}`)

/** Parses `labelSelector`; an empty string selects everything. */
export const parseLabelSelector = (input: string): Result.Result<LabelSelector, ApiError> => {
  const tokens = lex(input)
  let pos = 0
  const peek = (): Token => tokens[pos]!
  const next = (): Token => tokens[pos++]!
  const reqs: Array<LabelRequirement> = []
  if (peek().t === "end") return Result.succeed(reqs)
  for (;;) {
    let negate = false
    if (peek().t === "!") {
      next()
      negate = true
    }
    const keyTok = next()
    if (keyTok.t !== "id") return Result.fail(parseError(`found '${keyTok.t}', expected: identifier`))
    const key = keyTok.v
    if (!validKey(key)) return Result.fail(parseError(`invalid label key "${key}"`))
    const op = peek()
    if (negate) {
      if (op.t !== "," && op.t !== "end")
        return Result.fail(parseError(`found '${tokText(op)}', expected: ',' or 'end'`))
      reqs.push({ op: "!exists", key })
    } else if (op.t === "," || op.t === "end") {
      reqs.push({ op: "exists", key })
    } else if (op.t === "=" || op.t === "==" || op.t === "!=") {
      next()
      const v = peek()
      let value = ""
      if (v.t === "id") {
        next()
        value = v.v
      } else if (v.t !== "," && v.t !== "end") {
        return Result.fail(parseError(`found '${tokText(v)}', expected: identifier`))
      }
      if (!validValue(value)) return Result.fail(parseError(`invalid label value: "${value}"`))
      reqs.push({ op: op.t === "!=" ? "notin" : "in", key, values: [value] })
    } else if (op.t === "<" || op.t === ">") {
      next()
      const v = next()
      const n = v.t === "id" ? Number(v.v) : Number.NaN
      if (!Number.isInteger(n))
        return Result.fail(parseError(`for 'Gt', 'Lt' operators, the value must be an integer`))
      reqs.push({ op: op.t === ">" ? "gt" : "lt", key, value: n })
    } else if (op.t === "id" && (op.v === "in" || op.v === "notin")) {
      next()
      if (next().t !== "(")
        return Result.fail(parseError(`found '${tokText(tokens[pos - 1]!)}', expected: '('`))
      if (peek().t === ")")
        return Result.fail(parseError(`for 'in', 'notin' operators, values set can't be empty`))
      const values: Array<string> = []
      for (;;) {
        const v = peek()
        let value = ""
        if (v.t === "id") {
          next()
          value = v.v
        } else if (v.t !== "," && v.t !== ")") {
          return Result.fail(parseError(`found '${tokText(v)}', expected: ',', ')' or identifier`))
        }
        if (!validValue(value)) return Result.fail(parseError(`invalid label value: "${value}"`))
        values.push(value)
        const sep = next()
        if (sep.t === ")") break
        if (sep.t !== ",") return Result.fail(parseError(`found '${tokText(sep)}', expected: ',' or ')'`))
      }
      const distinct = [...new Set(values)]
      reqs.push({ op: op.v, key, values: distinct })
    } else {
      return Result.fail(parseError(`found '${tokText(op)}', expected: '=', '!=', '==', 'in', notin'`))
    }
    const sep = next()
    if (sep.t === "end") return Result.succeed(reqs)
    if (sep.t !== ",") return Result.fail(parseError(`found '${tokText(sep)}', expected: ',' or 'end'`))
  }
}

const tokText = (t: Token): string => (t.t === "id" ? t.v : t.t === "end" ? "" : t.t)

export const matchesLabels = (
  selector: LabelSelector,
  labels: Readonly<Record<string, string>> | undefined,
): boolean =>
  selector.every((r) => {
    const has = labels !== undefined && Object.hasOwn(labels, r.key)
    const value = has ? labels[r.key] : undefined
    switch (r.op) {
      case "exists":
        return has
      case "!exists":
        return !has
      case "in":
        return has && r.values.includes(value!)
      case "notin":
        return !has || !r.values.includes(value!)
      default: {
        const n = Number(value)
        if (!has || !Number.isInteger(n)) return false
        return r.op === "gt" ? n > r.value : n < r.value
      }
    }
  })

/** Parses `fieldSelector`; an empty string selects everything. */
export const parseFieldSelector = (input: string): Result.Result<FieldSelector, ApiError> => {
  const out: Array<FieldRequirement> = []
  if (input.trim() === "") return Result.succeed(out)
  for (const term of splitUnescaped(input, ",")) {
    const m = /^([^=!]*?)(==|!=|=)(.*)$/s.exec(term)
    if (m === null) return Result.fail(badRequest(`invalid selector: '${input}'; can't understand '${term}'`))
    const field = m[1]!.trim()
    const raw = m[3]!
    const value = unescapeValue(raw)
    if (value === undefined)
      return Result.fail(badRequest(`invalid selector: '${input}'; invalid escape in '${raw}'`))
    out.push({ field, op: m[2] === "!=" ? "!=" : "=", value })
  }
  return Result.succeed(out)
}

const splitUnescaped = (s: string, sep: string): Array<string> => {
  const parts: Array<string> = []
  let cur = ""
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === "\\" && i + 1 < s.length) {
      cur += c + s[i + 1]
      i++
    } else if (c === sep) {
      parts.push(cur)
      cur = ""
    } else {
      cur += c
    }
  }
  parts.push(cur)
  return parts
}

const unescapeValue = (s: string): string | undefined => {
  let out = ""
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === "\\") {
      const n = s[i + 1]
      if (n !== "\\" && n !== "," && n !== "=") return undefined
      out += n
      i++
    } else {
      out += c
    }
  }
  return out
}

export const matchesFields = (
  selector: FieldSelector,
  fieldOf: (field: string) => string | undefined,
): boolean =>
  selector.every((r) => {
    const v = fieldOf(r.field) ?? ""
    return r.op === "=" ? v === r.value : v !== r.value
  })

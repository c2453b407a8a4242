/**
 * The pure parts of the sandbox: selector grammar and matching, patch application,
 * kubectl-style ages.
 */
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { applyPatch, jsonPatch, mergePatch } from "../../src/testing/api-server/patch.js"
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
} from "../../src/testing/api-server/selectors.js"
import { humanAge } from "../../src/testing/api-server/table.js"

const labels = (selector: string, l: Record<string, string> | undefined): boolean => {
  const parsed = parseLabelSelector(selector)
  if (Result.isFailure(parsed)) throw new Error(parsed.failure.status.message)
  return matchesLabels(parsed.success, l)
}

describe("label selectors", () => {
  it("match like Kubernetes", () => {
    const l = { app: "web", tier: "front", n: "5" }
    expect(labels("", l)).toBe(true)
    expect(labels("app=web", l)).toBe(true)
    expect(labels("app = web , tier==front", l)).toBe(true)
    expect(labels("app!=web", l)).toBe(false)
    expect(labels("missing!=x", l)).toBe(true)
    expect(labels("app in (db,web)", l)).toBe(true)
    expect(labels("app notin (db,web)", l)).toBe(false)
    expect(labels("missing notin (a)", l)).toBe(true)
    expect(labels("missing in (a)", l)).toBe(false)
    expect(labels("tier", l)).toBe(true)
    expect(labels("!tier", l)).toBe(false)
    expect(labels("!other", undefined)).toBe(true)
    expect(labels("n>4,n<6", l)).toBe(true)
    expect(labels("n>5", l)).toBe(false)
    expect(labels("example.com/role=x", { "example.com/role": "x" })).toBe(true)
    expect(labels("app=", { app: "" })).toBe(true)
    expect(labels("app in (,web)", { app: "" })).toBe(true)
  })

  it("refuse what Kubernetes refuses", () => {
    for (const bad of ["app in ()", "app in (a", "=x", "app=a b", "!app=x", "-bad=x", "app>x", "a,,b"]) {
      const parsed = parseLabelSelector(bad)
      expect(Result.isFailure(parsed), bad).toBe(true)
      if (Result.isFailure(parsed)) expect(parsed.failure.status.code).toBe(400)
    }
  })
})

describe("field selectors", () => {
  it("parse =, ==, != with escapes", () => {
    const parsed = parseFieldSelector("metadata.name=a\\,b,metadata.namespace!=x")
    expect(Result.isSuccess(parsed)).toBe(true)
    if (Result.isSuccess(parsed)) {
      expect(parsed.success).toEqual([
        { field: "metadata.name", op: "=", value: "a,b" },
        { field: "metadata.namespace", op: "!=", value: "x" },
      ])
      const fields: Record<string, string> = { "metadata.name": "a,b", "metadata.namespace": "y" }
      expect(matchesFields(parsed.success, (f) => fields[f])).toBe(true)
    }
    expect(Result.isFailure(parseFieldSelector("nonsense"))).toBe(true)
  })
})

describe("patches", () => {
  it("merge patch follows RFC 7386", () => {
    expect(
      mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { b: { c: null, e: 4 }, l: [3], f: "x" }),
    ).toEqual({
      a: 1,
      b: { d: 3, e: 4 },
      l: [3],
      f: "x",
    })
    expect(mergePatch({ a: 1 }, "scalar")).toBe("scalar")
  })

  it("strategic merge patch drops $-directives", () => {
    expect(Result.getOrThrow(applyPatch("strategic", { count: 1 }, { count: 2, $patch: "merge" }))).toEqual({
      count: 2,
    })
  })

  it("JSON patch does add, remove, replace, move, copy, test", () => {
    const doc = { metadata: { labels: { a: "1" } }, list: [1, 2] }
    const out = jsonPatch(doc, [
      { op: "add", path: "/metadata/labels/b~1c", value: "2" },
      { op: "remove", path: "/metadata/labels/a" },
      { op: "replace", path: "/list/0", value: 9 },
      { op: "add", path: "/list/-", value: 3 },
      { op: "copy", from: "/list", path: "/copy" },
      { op: "move", from: "/copy", path: "/moved" },
      { op: "test", path: "/moved/2", value: 3 },
    ])
    expect(Result.getOrThrow(out)).toEqual({
      metadata: { labels: { "b/c": "2" } },
      list: [9, 2, 3],
      moved: [9, 2, 3],
    })
    expect(doc).toEqual({ metadata: { labels: { a: "1" } }, list: [1, 2] })
    expect(Result.isFailure(jsonPatch(doc, [{ op: "test", path: "/list/0", value: 5 }]))).toBe(true)
    expect(Result.isFailure(jsonPatch(doc, [{ op: "remove", path: "/nope" }]))).toBe(true)
    expect(Result.isFailure(jsonPatch(doc, [{ op: "replace", path: "/list/7", value: 1 }]))).toBe(true)
  })
})

describe("ages", () => {
  it("print like kubectl", () => {
    const at = Date.parse("2024-01-10T00:00:00Z")
    const ago = (s: number) => new Date(at - s * 1000).toISOString()
    expect(humanAge(ago(5), at)).toBe("5s")
    expect(humanAge(ago(150), at)).toBe("2m30s")
    expect(humanAge(ago(3600 * 3), at)).toBe("3h")
    expect(humanAge(ago(3600 * 50), at)).toBe("2d2h")
  })
})

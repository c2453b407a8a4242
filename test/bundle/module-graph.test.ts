/**
 * The driver binary loads only what the driver runs: the sandbox (in-process API
 * server, CA issuer) and @peculiar/x509 with reflect-metadata are reached only through
 * the `sandbox` subcommand's dynamic import; client-node's generated API (~700 model
 * classes) is not bundled at all. Read from the bundle `npm run build` makes
 * (dist/main.js and its chunks), so a static import that drags them in fails here.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { mainJs } from "../support/driver-process.js"

// The bundle is minified: statements share lines and strings may be template literals.
const staticImport = /\b(?:import|export)\s*(?:[^;"'`()]*?\bfrom\s*)?"(\.[^"]+)"/g
const dynamicImport = /\bimport\(\s*["`](\.[^"`]+)["`]\s*\)/g

/** Every chunk reachable from `entry`, following static imports and, if asked, dynamic ones. */
const reachable = (entry: string, options: { dynamic: boolean }): ReadonlySet<string> => {
  const seen = new Set<string>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    const source = fs.readFileSync(file, "utf8")
    const specifiers = [...source.matchAll(staticImport)].map((m) => m[1] ?? "")
    if (options.dynamic) specifiers.push(...[...source.matchAll(dynamicImport)].map((m) => m[1] ?? ""))
    for (const specifier of specifiers) visit(path.resolve(path.dirname(file), specifier))
  }
  visit(entry)
  return new Set([...seen].map((file) => path.relative(path.dirname(entry), file)))
}

const sandboxOnly = ["main/sandbox.js", "main/@peculiar-x509.js", "main/reflect-metadata.js"]

describe("the driver's module graph", () => {
  it("never statically reaches the sandbox, @peculiar/x509 or reflect-metadata", () => {
    const loaded = reachable(mainJs, { dynamic: false })
    expect(loaded).toContain("main/effect.js")
    for (const chunk of sandboxOnly) expect(loaded).not.toContain(chunk)
  })

  it("reaches them through the sandbox subcommand's dynamic import (the walk sees the chunks)", () => {
    const loaded = reachable(mainJs, { dynamic: true })
    for (const chunk of sandboxOnly) expect(loaded).toContain(chunk)
  })

  it("leaves out client-node's generated API and models (config.js imports their index)", () => {
    const chunks = [...reachable(mainJs, { dynamic: false })].map((chunk) =>
      fs.readFileSync(path.resolve(path.dirname(mainJs), chunk), "utf8"),
    )
    const source = chunks.join("\n")
    // Names are kept in the minified bundle: the classes would appear by name.
    const bundled = (name: string) => new RegExp(`\\bclass ${name}\\b`).test(source)
    expect(bundled("KubeConfig")).toBe(true)
    const generated = ["ObjectSerializer", "CoreV1Api", "CustomObjectsApi", "V1Pod", "V1ObjectMeta"]
    expect(generated.filter(bundled)).toEqual([])
  })

  it("loads undici's dispatchers only; its fetch (and the rest of its entry) waits for a first call", () => {
    const sourceOf = (options: { dynamic: boolean }) =>
      [...reachable(mainJs, options)]
        .map((chunk) => fs.readFileSync(path.resolve(path.dirname(mainJs), chunk), "utf8"))
        .join("\n")
    // Minified, a class reads `class Name` or `Name=class`.
    const classes = (source: string) =>
      ["ProxyAgent", "EventSource", "Headers", "CacheStorage"].filter((name) =>
        new RegExp(`\\bclass ${name}\\b|\\b${name}=class\\b`).test(source),
      )
    expect(classes(sourceOf({ dynamic: false }))).toEqual(["ProxyAgent"])
    expect(classes(sourceOf({ dynamic: true }))).toEqual([
      "ProxyAgent",
      "EventSource",
      "Headers",
      "CacheStorage",
    ])
  })

  it("takes node:http through require, never an ESM import (whose namespace loads Node's own undici)", () => {
    const chunks = [...reachable(mainJs, { dynamic: false })].map((chunk) =>
      fs.readFileSync(path.resolve(path.dirname(mainJs), chunk), "utf8"),
    )
    const esmImport = /\bimport\s*[^;"'`()]*?\bfrom\s*"(?:node:)?http"/
    for (const source of chunks) expect(source).not.toMatch(esmImport)
    // The rewrite is there (so the pattern above is not passing by matching nothing).
    expect(chunks.join("\n")).toMatch(/\(import\.meta\.url\)\(["`]node:http["`]\)/)
    expect(chunks.join("\n")).toMatch(/\bimport\s*[^;"'`()]*?\bfrom\s*"node:https"/)
  })
})

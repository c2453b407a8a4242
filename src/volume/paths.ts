/**
 * Paths put together on every publish without `node:path`'s normalizing pass, which
 * allocates a string per step (~45 KiB per publish in the store alone). Each function
 * gives what its `node:path` counterpart gives, and falls back to it for a path that
 * needs normalizing; test/volume/paths.test.ts holds them to that.
 */
import * as path from "node:path"

/** A path that `path.join` or `path.resolve` would change: doubled slashes, `.` or `..` segments. */
const unnormalized = /\/\/|(^|\/)\.\.?(\/|$)/

/**
 * `path.join(dir, name)` for one plain component `name` (no `/`, not `.` or `..`), as
 * every name the store and the writer use is (validated, constant, or from readdir).
 */
export const child = (dir: string, name: string): string =>
  dir === "" || unnormalized.test(dir)
    ? path.join(dir, name)
    : dir.endsWith("/")
      ? `${dir}${name}`
      : `${dir}/${name}`

/** `path.resolve(target)`: kubelet's target paths are absolute and normal already. */
export const absolutePath = (target: string): string =>
  target.startsWith("/") && !unnormalized.test(target) && (target === "/" || !target.endsWith("/"))
    ? target
    : path.resolve(target)

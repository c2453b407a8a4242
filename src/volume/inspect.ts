/**
 * What is at a path, only looking: its kind, and where it leads once every symlink on
 * the way is followed. The Mounter answers `inspect` with this, so a target path can be
 * checked as the disk has it before anything is made there (volume/target.ts), and
 * knows which directory a bind of a path really lands on.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { MountError, reasonOf } from "./errors.js"
import { absolutePath, child } from "./paths.js"

/** What is at a path, as `inspect` finds it. */
export interface PathState {
  /** The path with every symlink resolved as far as it exists (a last-component symlink too). */
  readonly resolved: string
  /** `other`: anything but a directory (a file, a socket, a symlink, …), or below a file. */
  readonly kind: "missing" | "directory" | "other"
  /** For messages: "a directory", "a regular file", "a symbolic link", … */
  readonly what: string
}

export const hasCode = (cause: unknown, ...codes: ReadonlyArray<string>) =>
  codes.includes((cause as NodeJS.ErrnoException | undefined)?.code ?? "")

/** ENOENT (and ENOTDIR, a file where a directory should be) is `undefined`: the path is not there. */
export const orMissing = <A>(call: () => A): A | undefined => {
  try {
    return call()
  } catch (cause) {
    // The adapter's one throw: any other failure is the caller's to report.
    if (hasCode(cause, "ENOENT", "ENOTDIR")) return undefined
    throw cause
  }
}

/** realpath(3), as `fs/promises` calls it (the JS `realpathSync` walks with lstat and may differ). */
export const realpath = (target: string): string => fs.realpathSync.native(target)

/**
 * `target` (absolute, normalized) with every symlink resolved as far as it exists, the
 * missing rest appended as is: where the kernel would put a directory made there.
 * `exists: false` says an lstat found nothing at `target` itself, so it is not resolved.
 */
export const resolveExisting = (target: string, exists = true): string => {
  // Kubelet's target, or its parent before the first publish: one or two calls.
  const real = exists ? orMissing(() => realpath(target)) : undefined
  if (real !== undefined) return real
  const parent = path.dirname(target)
  const realParent = parent === target ? undefined : orMissing(() => realpath(parent))
  if (realParent !== undefined)
    return child(realParent, target.slice(parent.length + (parent === "/" ? 0 : 1)))
  // Deeper: walk down from / to the first missing component.
  const components = target.split("/").filter((c) => c !== "")
  let at = "/"
  for (const [i, component] of components.entries()) {
    const next = path.join(at, component)
    const resolved = orMissing(() => realpath(next))
    if (resolved === undefined) return path.join(next, ...components.slice(i + 1))
    at = resolved
  }
  return at
}

const descriptions = [
  ["isDirectory", "a directory"],
  ["isFile", "a regular file"],
  ["isSymbolicLink", "a symbolic link"],
  ["isSocket", "a socket"],
  ["isFIFO", "a FIFO"],
  ["isBlockDevice", "a block device"],
  ["isCharacterDevice", "a character device"],
] as const

const whatIs = (stats: fs.Stats): string => descriptions.find(([is]) => stats[is]())?.[1] ?? "not a directory"

/** lstat; ENOENT is `undefined`, ENOTDIR (a file where one of its parent directories should be) "below a file". */
const lstatOf = (absolute: string): fs.Stats | "below a file" | undefined => {
  try {
    return fs.lstatSync(absolute, { throwIfNoEntry: false })
  } catch (cause) {
    if (hasCode(cause, "ENOTDIR")) return "below a file"
    throw cause
  }
}

const inspect = (target: string): PathState => {
  const absolute = absolutePath(target)
  const stats = lstatOf(absolute)
  // Nothing there (or below a file): realpath would fail for it too, so only its parents are resolved.
  const resolved = resolveExisting(absolute, stats !== undefined && stats !== "below a file")
  if (stats === undefined) return { resolved, kind: "missing", what: "missing" }
  if (stats === "below a file")
    return { resolved, kind: "other", what: "below a file that is not a directory" }
  return { resolved, kind: stats.isDirectory() ? "directory" : "other", what: whatIs(stats) }
}

/**
 * What is at `target` (the live Mounter's `inspect`; the demo's reuses it). Synchronous
 * calls, like the store's: kubelet's directories are on a local filesystem whose entries
 * it has just made or read, where an lstat or a realpath takes a few µs, and the
 * `fs/promises` form costs several times that in CPU for the thread pool's round trip.
 */
export const inspectPath = (target: string): Effect.Effect<PathState, MountError> =>
  Effect.try({
    try: () => inspect(target),
    catch: (cause) => new MountError({ operation: "inspect", target, reason: reasonOf(cause) }),
  })

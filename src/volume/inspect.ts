/**
 * What is at a path, only looking: its kind, and where it leads once every symlink on
 * the way is followed. The Mounter answers `inspect` with this, so a target path can be
 * checked as the disk has it before anything is made there (volume/target.ts), and
 * knows which directory a bind of a path really lands on.
 */
import type { Stats } from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import { MountError, reasonOf } from "./errors.js"

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
export const ifExists = <A>(call: Promise<A>): Promise<A | undefined> =>
  call.catch((cause: unknown) => (hasCode(cause, "ENOENT", "ENOTDIR") ? undefined : Promise.reject(cause)))

/**
 * `target` (absolute, normalized) with every symlink resolved as far as it exists, the
 * missing rest appended as is: where the kernel would put a directory made there.
 */
export const resolveExisting = async (target: string): Promise<string> => {
  // Kubelet's target, or its parent before the first publish: one or two calls.
  const real = await ifExists(fs.realpath(target))
  if (real !== undefined) return real
  const parent = path.dirname(target)
  const realParent = parent === target ? undefined : await ifExists(fs.realpath(parent))
  if (realParent !== undefined) return path.join(realParent, path.basename(target))
  // Deeper: walk down from / to the first missing component.
  const components = target.split("/").filter((c) => c !== "")
  let at = "/"
  for (const [i, component] of components.entries()) {
    const next = path.join(at, component)
    const resolved = await ifExists(fs.realpath(next))
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

const whatIs = (stats: Stats): string => descriptions.find(([is]) => stats[is]())?.[1] ?? "not a directory"

const inspect = async (target: string): Promise<PathState> => {
  const absolute = path.resolve(target)
  const resolved = await resolveExisting(absolute)
  const stats = await fs.lstat(absolute).catch((cause: unknown) =>
    // ENOTDIR: a file where one of its parent directories should be.
    hasCode(cause, "ENOENT")
      ? undefined
      : hasCode(cause, "ENOTDIR")
        ? ("below a file" as const)
        : Promise.reject(cause),
  )
  if (stats === undefined) return { resolved, kind: "missing", what: "missing" }
  if (stats === "below a file")
    return { resolved, kind: "other", what: "below a file that is not a directory" }
  return { resolved, kind: stats.isDirectory() ? "directory" : "other", what: whatIs(stats) }
}

/** What is at `target` (the live Mounter's `inspect`; the demo's reuses it). */
export const inspectPath = (target: string): Effect.Effect<PathState, MountError> =>
  Effect.tryPromise({
    try: () => inspect(target),
    catch: (cause) => new MountError({ operation: "inspect", target, reason: reasonOf(cause) }),
  })

/**
 * A Mounter for machines where the demo cannot mount (not root): the "tmpfs" is a
 * plain directory and the "bind mount" a symlink, so the flow is the same and the
 * files are where a pod would see them. Never for production: keys land on disk.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { MountError, reasonOf } from "../volume/errors.js"
import { inspectPath } from "../volume/inspect.js"
import { leftAlone, Mounter, unbound } from "../volume/mounter.js"

const attempt = <A>(operation: string, target: string, f: () => Promise<A>) =>
  Effect.tryPromise({
    try: f,
    catch: (cause) => new MountError({ operation, target, reason: reasonOf(cause) }),
  })

const isLink = (target: string) =>
  Effect.promise(() =>
    fs.lstat(target).then(
      (stat) => stat.isSymbolicLink(),
      () => false,
    ),
  )

const bindReadOnly = (source: string, target: string) =>
  Effect.gen(function* () {
    if (yield* isLink(target)) return
    yield* attempt("mkdir", target, () => fs.mkdir(path.dirname(target), { recursive: true }))
    yield* attempt("rmdir", target, () =>
      fs.rmdir(target).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw error
      }),
    )
    yield* attempt("symlink", target, () => fs.symlink(source, target))
  })

const linksTo = (target: string) =>
  Effect.promise(() =>
    fs.readlink(target).then(
      (to) => path.resolve(path.dirname(target), to),
      () => undefined,
    ),
  )

/** A symlink of ours plays a mount point: a directory, where the kubelet's target is. */
const inspect = (target: string) =>
  Effect.gen(function* () {
    if (!(yield* isLink(target))) return yield* inspectPath(target)
    const parent = yield* inspectPath(path.dirname(target))
    return {
      resolved: path.join(parent.resolved, path.basename(target)),
      kind: "directory" as const,
      what: "a directory",
    }
  })

/** Removes the symlink when it points at `source`; leaves anything else. */
const unbind = (source: string, target: string) =>
  Effect.gen(function* () {
    const to = yield* linksTo(target)
    if (to === undefined)
      return (yield* inspectPath(target)).kind === "missing" ? unbound : leftAlone("not ours")
    if (to !== path.resolve(source)) return leftAlone(`a symbolic link to ${to}`)
    yield* attempt("unlink", target, () => fs.rm(target, { force: true }))
    return unbound
  })

export const PlainDirectoryMounter = Layer.succeed(
  Mounter,
  Mounter.of({
    ensureTmpfs: (dir) =>
      attempt("mkdir", dir, () => fs.mkdir(dir, { recursive: true, mode: 0o700 })).pipe(Effect.asVoid),
    bindReadOnly,
    prepareBind: (source, target) => Effect.succeed(bindReadOnly(source, target)),
    unbind,
    // A symlink has no earlier filesystem to take back, and nothing mounts on a data directory.
    adoptEarlier: () => Effect.succeed(false),
    unmountAll: () => Effect.void,
    inspect,
    isMountPoint: isLink,
    isBound: (source, target) => Effect.map(linksTo(target), (to) => to === path.resolve(source)),
    // Symlinks cannot be listed by path; the demo starts on an empty data root anyway.
    mountPoints: Effect.succeed(new Set<string>()),
  }),
)

/**
 * A Mounter for machines where the demo cannot mount (not root): the "tmpfs" is a
 * plain directory and the "bind mount" a symlink, so the flow is the same and the
 * files are where a pod would see them. Never for production: keys land on disk.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { MountError, reasonOf } from "../volume/errors.js"
import { Mounter } from "../volume/mounter.js"

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

export const PlainDirectoryMounter = Layer.succeed(
  Mounter,
  Mounter.of({
    ensureTmpfs: (dir) =>
      attempt("mkdir", dir, () => fs.mkdir(dir, { recursive: true, mode: 0o700 })).pipe(Effect.asVoid),
    bindReadOnly,
    prepareBind: (source, target) => Effect.succeed(bindReadOnly(source, target)),
    unmount: (target) => attempt("unlink", target, () => fs.rm(target, { force: true })),
    isMountPoint: isLink,
    // Symlinks cannot be listed by path; the demo starts on an empty data root anyway.
    mountPoints: Effect.succeed(new Set<string>()),
  }),
)

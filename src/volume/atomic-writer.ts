/**
 * kubelet's AtomicWriter idea for a volume's `data/` directory: each file set is written
 * into a fresh `..YYYY_MM_DD_HH_MM_SS.<random>` directory and published by renaming a
 * `..data` symlink over the old one, so a reader that resolves `..data` once sees the old
 * set or the new set, never a mix. User-visible names are symlinks `name → ..data/name`.
 * Also holds the thin `node:fs` adapter the store shares.
 *
 * The calls are synchronous on purpose: the data root is always a tmpfs, where each call is
 * a memory operation of a few µs, while the `fs/promises` form costs about ten times that in
 * CPU for the thread-pool round trip; the event loop is never blocked for long. For the same
 * reason nothing is fsynced: a tmpfs has no backing store, and atomicity comes from rename.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Clock, Effect, Option } from "effect"
import { reasonOf, StorageError } from "./errors.js"

/** Runs synchronous `node:fs` calls; a thrown error becomes a StorageError naming the operation and path. */
export const tryFs = <A>(operation: string, target: string, run: () => A): Effect.Effect<A, StorageError> =>
  Effect.try({
    try: run,
    catch: (cause) => new StorageError({ operation, path: target, reason: reasonOf(cause) }),
  })

const isMissing = (cause: unknown): boolean => (cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT"

/**
 * Whether `target` itself (not a symlink's target) exists. Asked before a call that would
 * throw for a missing entry: the thrown error costs several times the call (ENOTDIR, a file
 * where a directory should be, also answers false).
 */
const exists = (target: string): boolean => fs.lstatSync(target, { throwIfNoEntry: false }) !== undefined

/**
 * Like `tryFs` on `target`, but a missing `target` is `none` rather than an error: looked
 * up first, and ENOENT from `run` (removed meanwhile, or a dangling link) is `none` too.
 */
export const tryFsIfExists = <A>(
  operation: string,
  target: string,
  run: () => A,
): Effect.Effect<Option.Option<A>, StorageError> =>
  tryFs(operation, target, () => {
    if (!exists(target)) return Option.none<A>()
    try {
      return Option.some(run())
    } catch (cause) {
      if (isMissing(cause)) return Option.none<A>()
      throw cause
    }
  })

/** mkdir (not recursive: the parent must exist), leaving an existing directory as it is. */
export const mkdirIfMissing = (target: string, mode: number): Effect.Effect<void, StorageError> =>
  tryFs("mkdir", target, () => {
    if (exists(target)) return
    try {
      fs.mkdirSync(target, { mode })
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException | undefined)?.code !== "EEXIST") throw cause
    }
  })

/**
 * Creates `target` exclusively ('wx') with `data`, `mode` and, when given, group `group`;
 * closes it whatever happens. Run it inside `tryFs`.
 */
export const writeNewFile = (
  target: string,
  data: string | Uint8Array,
  mode: number,
  group: number | undefined,
): void => {
  const fd = fs.openSync(target, "wx", mode)
  try {
    fs.writeFileSync(fd, data)
    if (group !== undefined) fs.fchownSync(fd, -1, group)
    // explicit chmod: the mode given to open is filtered by the umask
    fs.fchmodSync(fd, mode)
  } finally {
    fs.closeSync(fd)
  }
}

/** A name that is one path component and cannot collide with the writer's own `..` entries. */
export const isPlainName = (name: string): boolean =>
  name !== "" && name !== "." && !name.startsWith("..") && !name.includes("/") && !name.includes("\0")

export interface FileToWrite {
  readonly name: string
  readonly data: string | Uint8Array
}

/** The symlink readers resolve; its target is the current timestamped directory. */
export const dataLink = "..data"
const dataLinkTmp = "..data_tmp"
const linkTmp = "..link_tmp"
const generationPattern = /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\./

const dataDirMode = 0o550
const generationDirMode = 0o550
const fileMode = 0o440
/** While writing, the owner needs write permission on data/ (root has it anyway; a non-root test does not). */
const writableDirMode = 0o750

const pad = (n: number) => String(n).padStart(2, "0")
const generationPrefix = (millis: number): string => {
  const d = new Date(millis)
  return `..${d.getUTCFullYear()}_${pad(d.getUTCMonth() + 1)}_${pad(d.getUTCDate())}_${pad(d.getUTCHours())}_${pad(d.getUTCMinutes())}_${pad(d.getUTCSeconds())}.`
}

const invalid = (operation: string, target: string, reason: string) =>
  Effect.fail(new StorageError({ operation, path: target, reason }))

const validateFiles = (
  dataDir: string,
  files: ReadonlyArray<FileToWrite>,
): Effect.Effect<void, StorageError> => {
  const seen = new Set<string>()
  for (const file of files) {
    if (!isPlainName(file.name)) return invalid("write", path.join(dataDir, file.name), "invalid file name")
    if (seen.has(file.name)) return invalid("write", path.join(dataDir, file.name), "duplicate file name")
    seen.add(file.name)
  }
  return Effect.void
}

/**
 * Removes a directory tree the writer made read-only (0550/0440): the owner gets write
 * permission back on every directory first, since only root may unlink entries without it.
 */
export const removeTree = (target: string): Effect.Effect<void, StorageError> =>
  Effect.gen(function* () {
    const stat = yield* tryFs("remove", target, () => fs.lstatSync(target, { throwIfNoEntry: false }))
    if (stat === undefined) return
    if (stat.isDirectory()) {
      yield* tryFs("remove", target, () => fs.chmodSync(target, 0o700))
      const entries = yield* tryFs("remove", target, () => fs.readdirSync(target, { withFileTypes: true }))
      for (const entry of entries) {
        if (entry.isDirectory()) yield* removeTree(path.join(target, entry.name))
      }
    }
    yield* tryFs("remove", target, () => fs.rmSync(target, { recursive: true, force: true }))
  })

/** Makes `dataDir/name` a symlink to `..data/name`, replacing anything else there atomically. */
const ensureVisibleLink = (dataDir: string, name: string) => {
  const visible = path.join(dataDir, name)
  const wanted = path.join(dataLink, name)
  return tryFs("link", visible, () => {
    const stat = fs.lstatSync(visible, { throwIfNoEntry: false })
    if (stat === undefined) return fs.symlinkSync(wanted, visible)
    if (stat.isSymbolicLink() && fs.readlinkSync(visible) === wanted) return
    const tmp = path.join(dataDir, linkTmp)
    if (exists(tmp)) fs.unlinkSync(tmp)
    fs.symlinkSync(wanted, tmp)
    fs.renameSync(tmp, visible)
  })
}

/**
 * One listing of data/ after the swap: removes user-visible symlinks whose names are not in
 * the new set, and generations other than those in `keepGenerations`.
 */
const removeStale = (
  dataDir: string,
  keepNames: ReadonlySet<string>,
  keepGenerations: ReadonlyArray<string>,
) =>
  Effect.gen(function* () {
    const entries = yield* tryFs("list", dataDir, () => fs.readdirSync(dataDir, { withFileTypes: true }))
    for (const entry of entries) {
      const target = path.join(dataDir, entry.name)
      if (entry.isSymbolicLink() && !entry.name.startsWith("..") && !keepNames.has(entry.name)) {
        yield* tryFsIfExists("unlink", target, () => fs.unlinkSync(target))
      } else if (
        entry.isDirectory() &&
        generationPattern.test(entry.name) &&
        !keepGenerations.includes(entry.name)
      ) {
        yield* removeTree(target)
      }
    }
  })

/** data/ is 0550 (group = `group` when given) whenever no write is in progress. */
const sealDataDir = (dataDir: string, group: number | undefined) => {
  const chmod = tryFs("chmod", dataDir, () => fs.chmodSync(dataDir, dataDirMode))
  return group === undefined
    ? chmod
    : Effect.andThen(
        tryFs("chown", dataDir, () => fs.chownSync(dataDir, -1, group)),
        chmod,
      )
}

const writeGeneration = (dataDir: string, files: ReadonlyArray<FileToWrite>, group: number | undefined) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const generationDir = yield* tryFs("mkdir", dataDir, () =>
      fs.mkdtempSync(path.join(dataDir, generationPrefix(now))),
    )
    yield* Effect.gen(function* () {
      for (const file of files) {
        const target = path.join(generationDir, file.name)
        yield* tryFs("write", target, () => writeNewFile(target, file.data, fileMode, group))
      }
      if (group !== undefined)
        yield* tryFs("chown", generationDir, () => fs.chownSync(generationDir, -1, group))
      yield* tryFs("chmod", generationDir, () => fs.chmodSync(generationDir, generationDirMode))
    }).pipe(Effect.onError(() => Effect.ignore(removeTree(generationDir))))
    return path.basename(generationDir)
  })

/** Points `..data` at `generation` with one rename, the step that makes the new set visible. */
const swapDataLink = (dataDir: string, generation: string) => {
  const tmp = path.join(dataDir, dataLinkTmp)
  return tryFs("link", tmp, () => {
    if (exists(tmp)) fs.unlinkSync(tmp)
    fs.symlinkSync(generation, tmp)
    fs.renameSync(tmp, path.join(dataDir, dataLink))
  })
}

/**
 * Replaces the file set in `dataDir` (created if missing; its parent must exist): files
 * 0440, directories 0550, group-owned by `group` when given. The caller serialises
 * writes to one directory.
 */
export const writeAtomically = Effect.fn("AtomicWriter.write")(function* (
  dataDir: string,
  files: ReadonlyArray<FileToWrite>,
  group: number | undefined,
) {
  yield* validateFiles(dataDir, files)
  yield* mkdirIfMissing(dataDir, writableDirMode)
  yield* tryFs("chmod", dataDir, () => fs.chmodSync(dataDir, writableDirMode))
  yield* Effect.gen(function* () {
    const previous = yield* tryFsIfExists("readlink", path.join(dataDir, dataLink), () =>
      fs.readlinkSync(path.join(dataDir, dataLink)),
    )
    const generation = yield* writeGeneration(dataDir, files, group)
    yield* swapDataLink(dataDir, generation)
    for (const file of files) yield* ensureVisibleLink(dataDir, file.name)
    yield* removeStale(dataDir, new Set(files.map((file) => file.name)), [
      generation,
      ...Option.toArray(previous),
    ])
    yield* sealDataDir(dataDir, group)
  }).pipe(Effect.onError(() => Effect.ignore(sealDataDir(dataDir, group))))
})

/** Reads `name` from the current set (through `..data`); none when there is no set or no such file. */
export const readCurrent = (
  dataDir: string,
  name: string,
): Effect.Effect<Option.Option<Uint8Array>, StorageError> => {
  const target = path.join(dataDir, dataLink, name)
  if (!isPlainName(name)) return invalid("read", target, "invalid file name")
  return tryFsIfExists("read", target, () => fs.readFileSync(target)).pipe(
    Effect.map(Option.map((buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength))),
  )
}

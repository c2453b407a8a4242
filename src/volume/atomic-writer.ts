/**
 * kubelet's AtomicWriter idea for a volume's `data/` directory: each file set is written
 * into a fresh `..YYYY_MM_DD_HH_MM_SS.<random>` directory and published by renaming a
 * `..data` symlink over the old one, so a reader that resolves `..data` once sees the old
 * set or the new set, never a mix. User-visible names are symlinks `name → ..data/name`.
 * Also holds the thin `node:fs/promises` adapter the store shares.
 */
import type { FileHandle } from "node:fs/promises"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Clock, Effect, Option } from "effect"
import { reasonOf, StorageError } from "./errors.js"

/** Runs one `node:fs/promises` call; a rejection becomes a StorageError naming the operation and path. */
export const tryFs = <A>(
  operation: string,
  target: string,
  run: () => Promise<A>,
): Effect.Effect<A, StorageError> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) => new StorageError({ operation, path: target, reason: reasonOf(cause) }),
  })

const isMissing = (cause: unknown): boolean => (cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT"

/** Like `tryFs`, but ENOENT (the thing is not there) is `none` rather than an error. */
export const tryFsIfExists = <A>(
  operation: string,
  target: string,
  run: () => Promise<A>,
): Effect.Effect<Option.Option<A>, StorageError> =>
  tryFs(operation, target, () =>
    run().then(Option.some<A>, (cause: unknown) =>
      isMissing(cause) ? Option.none<A>() : Promise.reject(cause),
    ),
  )

/** mkdir (not recursive: the parent must exist), leaving an existing directory as it is. */
export const mkdirIfMissing = (target: string, mode: number): Effect.Effect<void, StorageError> =>
  tryFs("mkdir", target, () =>
    fs.mkdir(target, { mode }).then(
      () => undefined,
      (cause: unknown) =>
        (cause as NodeJS.ErrnoException | undefined)?.code === "EEXIST" ? undefined : Promise.reject(cause),
    ),
  )

/** fsync a file or directory by path, so the data or the directory entries reach the filesystem. */
export const fsyncPath = (operation: string, target: string): Effect.Effect<void, StorageError> =>
  tryFs(operation, target, async () => {
    const handle = await fs.open(target, "r")
    await handle.sync().finally(() => handle.close())
  })

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

const validateFiles = (dataDir: string, files: ReadonlyArray<FileToWrite>) =>
  Effect.gen(function* () {
    const seen = new Set<string>()
    for (const file of files) {
      if (!isPlainName(file.name)) {
        return yield* invalid("write", path.join(dataDir, file.name), "invalid file name")
      }
      if (seen.has(file.name))
        return yield* invalid("write", path.join(dataDir, file.name), "duplicate file name")
      seen.add(file.name)
    }
  })

const writeFile = (target: string, data: string | Uint8Array, group: number | undefined) =>
  tryFs("write", target, async () => {
    const handle: FileHandle = await fs.open(target, "wx", fileMode)
    await (async () => {
      await handle.writeFile(data)
      if (group !== undefined) await handle.chown(-1, group)
      // explicit chmod: the mode given to open is filtered by the umask
      await handle.chmod(fileMode)
      await handle.sync()
    })().finally(() => handle.close())
  })

/**
 * Removes a directory tree the writer made read-only (0550/0440): the owner gets write
 * permission back on every directory first, since only root may unlink entries without it.
 */
export const removeTree = (target: string): Effect.Effect<void, StorageError> =>
  Effect.gen(function* () {
    const stat = yield* tryFsIfExists("remove", target, () => fs.lstat(target))
    if (Option.isNone(stat)) return
    if (stat.value.isDirectory()) {
      yield* tryFs("remove", target, () => fs.chmod(target, 0o700))
      const entries = yield* tryFs("remove", target, () => fs.readdir(target, { withFileTypes: true }))
      yield* Effect.forEach(
        entries.filter((entry) => entry.isDirectory()),
        (entry) => removeTree(path.join(target, entry.name)),
        { discard: true },
      )
    }
    yield* tryFs("remove", target, () => fs.rm(target, { recursive: true, force: true }))
  })

/** Makes `dataDir/name` a symlink to `..data/name`, replacing anything else there atomically. */
const ensureVisibleLink = (dataDir: string, name: string) =>
  Effect.gen(function* () {
    const visible = path.join(dataDir, name)
    const wanted = path.join(dataLink, name)
    const stat = yield* tryFsIfExists("link", visible, () => fs.lstat(visible))
    if (Option.isNone(stat)) return yield* tryFs("link", visible, () => fs.symlink(wanted, visible))
    if (stat.value.isSymbolicLink()) {
      const current = yield* tryFs("link", visible, () => fs.readlink(visible))
      if (current === wanted) return
    }
    const tmp = path.join(dataDir, linkTmp)
    yield* tryFsIfExists("link", tmp, () => fs.unlink(tmp))
    yield* tryFs("link", tmp, () => fs.symlink(wanted, tmp))
    yield* tryFs("link", visible, () => fs.rename(tmp, visible))
  })

/** Removes user-visible symlinks whose names are not in the new set. */
const removeStaleLinks = (dataDir: string, keep: ReadonlySet<string>) =>
  Effect.gen(function* () {
    const entries = yield* tryFs("list", dataDir, () => fs.readdir(dataDir, { withFileTypes: true }))
    const stale = entries.filter(
      (entry) => !entry.name.startsWith("..") && !keep.has(entry.name) && entry.isSymbolicLink(),
    )
    yield* Effect.forEach(
      stale,
      (entry) =>
        tryFsIfExists("unlink", path.join(dataDir, entry.name), () =>
          fs.unlink(path.join(dataDir, entry.name)),
        ),
      { discard: true },
    )
  })

/** Deletes generations other than the new one and the one `..data` pointed at before the swap. */
const removeOldGenerations = (dataDir: string, keep: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const entries = yield* tryFs("list", dataDir, () => fs.readdir(dataDir, { withFileTypes: true }))
    const old = entries.filter(
      (entry) => entry.isDirectory() && generationPattern.test(entry.name) && !keep.includes(entry.name),
    )
    yield* Effect.forEach(old, (entry) => removeTree(path.join(dataDir, entry.name)), { discard: true })
  })

/** data/ is 0550 (group = `group` when given) whenever no write is in progress. */
const sealDataDir = (dataDir: string, group: number | undefined) =>
  Effect.gen(function* () {
    if (group !== undefined) yield* tryFs("chown", dataDir, () => fs.chown(dataDir, -1, group))
    yield* tryFs("chmod", dataDir, () => fs.chmod(dataDir, dataDirMode))
  })

const writeGeneration = (dataDir: string, files: ReadonlyArray<FileToWrite>, group: number | undefined) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const generationDir = yield* tryFs("mkdir", dataDir, () =>
      fs.mkdtemp(path.join(dataDir, generationPrefix(now))),
    )
    yield* Effect.gen(function* () {
      yield* Effect.forEach(
        files,
        (file) => writeFile(path.join(generationDir, file.name), file.data, group),
        {
          discard: true,
        },
      )
      if (group !== undefined) yield* tryFs("chown", generationDir, () => fs.chown(generationDir, -1, group))
      yield* tryFs("chmod", generationDir, () => fs.chmod(generationDir, generationDirMode))
      yield* fsyncPath("fsync", generationDir)
    }).pipe(Effect.onError(() => Effect.ignore(removeTree(generationDir))))
    return path.basename(generationDir)
  })

/** Points `..data` at `generation` with one rename, the step that makes the new set visible. */
const swapDataLink = (dataDir: string, generation: string) =>
  Effect.gen(function* () {
    const tmp = path.join(dataDir, dataLinkTmp)
    yield* tryFsIfExists("link", tmp, () => fs.unlink(tmp))
    yield* tryFs("link", tmp, () => fs.symlink(generation, tmp))
    yield* tryFs("rename", tmp, () => fs.rename(tmp, path.join(dataDir, dataLink)))
  })

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
  yield* tryFs("chmod", dataDir, () => fs.chmod(dataDir, writableDirMode))
  yield* Effect.gen(function* () {
    const previous = yield* tryFsIfExists("readlink", path.join(dataDir, dataLink), () =>
      fs.readlink(path.join(dataDir, dataLink)),
    )
    const generation = yield* writeGeneration(dataDir, files, group)
    yield* swapDataLink(dataDir, generation)
    yield* Effect.forEach(files, (file) => ensureVisibleLink(dataDir, file.name), { discard: true })
    yield* removeStaleLinks(dataDir, new Set(files.map((file) => file.name)))
    yield* removeOldGenerations(dataDir, [generation, ...Option.toArray(previous)])
    yield* sealDataDir(dataDir, group)
    yield* fsyncPath("fsync", dataDir)
  }).pipe(Effect.onError(() => Effect.ignore(sealDataDir(dataDir, group))))
})

/** Reads `name` from the current set (through `..data`); none when there is no set or no such file. */
export const readCurrent = (
  dataDir: string,
  name: string,
): Effect.Effect<Option.Option<Uint8Array>, StorageError> => {
  const target = path.join(dataDir, dataLink, name)
  if (!isPlainName(name)) return invalid("read", target, "invalid file name")
  return tryFsIfExists("read", target, () => fs.readFile(target)).pipe(
    Effect.map(Option.map((buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength))),
  )
}

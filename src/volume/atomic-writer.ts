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
 * A whole write is one synchronous sequence of named steps run inside one Effect (`runSteps`),
 * not an Effect per call: on the publish path the fibers' bookkeeping cost more than the calls.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Clock, Effect, Option } from "effect"
import { reasonOf, StorageError } from "./errors.js"
import { child } from "./paths.js"

/** A failed step of a synchronous sequence: what it was doing, on which path, and why. */
class StepFailure {
  readonly operation: string
  readonly target: string
  readonly cause: unknown
  constructor(operation: string, target: string, cause: unknown) {
    this.operation = operation
    this.target = target
    this.cause = cause
  }
}

const storageErrorOf = (failure: StepFailure) =>
  new StorageError({ operation: failure.operation, path: failure.target, reason: reasonOf(failure.cause) })

/**
 * One named step of a sequence run by `runSteps`: a thrown error becomes the StorageError
 * naming `operation` and `target` (the first failing step's, when steps nest).
 */
export const step = <A>(operation: string, target: string, run: () => A): A => {
  try {
    return run()
  } catch (cause) {
    // The adapter's one throw: carries the step's name out to runSteps.
    throw cause instanceof StepFailure ? cause : new StepFailure(operation, target, cause)
  }
}

/** Runs a synchronous sequence of `step`s as one Effect; a failed step is its StorageError. */
export const runSteps = <A>(
  operation: string,
  target: string,
  run: () => A,
): Effect.Effect<A, StorageError> =>
  Effect.try({
    try: run,
    catch: (cause) =>
      storageErrorOf(cause instanceof StepFailure ? cause : new StepFailure(operation, target, cause)),
  })

const isMissing = (cause: unknown): boolean => (cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT"

/**
 * Whether `target` itself (not a symlink's target) exists. Asked before a call that would
 * throw for a missing entry: the thrown error costs several times the call (ENOTDIR, a file
 * where a directory should be, also answers false).
 */
const exists = (target: string): boolean => fs.lstatSync(target, { throwIfNoEntry: false }) !== undefined

/** `run`'s result, or undefined when `target` is missing (looked up first; ENOENT from `run` too). */
export const ifExists = <A>(target: string, run: () => A): A | undefined => {
  if (!exists(target)) return undefined
  try {
    return run()
  } catch (cause) {
    if (isMissing(cause)) return undefined
    throw cause
  }
}

/**
 * Like `runSteps` on `target`, but a missing `target` is `none` rather than an error: looked
 * up first, and ENOENT from `run` (removed meanwhile, or a dangling link) is `none` too.
 */
export const tryFsIfExists = <A>(
  operation: string,
  target: string,
  run: () => A,
): Effect.Effect<Option.Option<A>, StorageError> =>
  runSteps(operation, target, () => Option.fromUndefinedOr(ifExists(target, run)))

/**
 * `target`'s text, or undefined when it is missing. Read without looking it up first: for
 * a file that is almost always there, where a lookup per read costs more than the odd error.
 */
export const readIfExists = (target: string): string | undefined => {
  try {
    return fs.readFileSync(target, "utf8")
  } catch (cause) {
    if (isMissing(cause)) return undefined
    throw cause
  }
}

/**
 * mkdir (not recursive: the parent must exist), leaving an existing directory as it is; a
 * step. Whether it made the directory: one made just now is known to be empty.
 */
export const makeDirIfMissing = (target: string, mode: number): boolean =>
  step("mkdir", target, () => {
    if (exists(target)) return false
    try {
      fs.mkdirSync(target, { mode })
      return true
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException | undefined)?.code !== "EEXIST") throw cause
      return false
    }
  })

/**
 * Creates `target` exclusively ('wx') with `data`, `mode` and, when given, group `group`;
 * closes it whatever happens. Run it inside `runSteps`.
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

/** `removeTree` as steps, for a sequence of its own. */
const removeTreeSteps = (target: string): void => {
  try {
    // Root (the driver) may unlink in read-only directories: one pass, without the chmods.
    fs.rmSync(target, { recursive: true, force: true })
    return
  } catch {
    // Done again the long way, whose failure, if it fails too, is the one reported.
  }
  removeOpenedTree(target)
}

/** `removeTreeSteps` for an owner who may not unlink in read-only directories: each gets 0700 first. */
const removeOpenedTree = (target: string): void => {
  const stat = step("remove", target, () => fs.lstatSync(target, { throwIfNoEntry: false }))
  if (stat === undefined) return
  if (stat.isDirectory()) {
    step("remove", target, () => fs.chmodSync(target, 0o700))
    const entries = step("remove", target, () => fs.readdirSync(target, { withFileTypes: true }))
    for (const entry of entries) {
      if (entry.isDirectory()) removeOpenedTree(child(target, entry.name))
    }
  }
  step("remove", target, () => fs.rmSync(target, { recursive: true, force: true }))
}

/**
 * Removes a directory tree the writer made read-only (0550/0440): the owner gets write
 * permission back on every directory first, since only root may unlink entries without it.
 */
export const removeTree = (target: string): Effect.Effect<void, StorageError> =>
  runSteps("remove", target, () => removeTreeSteps(target))

/** Runs `run`, ignoring what it throws: clean-up after a failure that is being reported already. */
export const bestEffort = (run: () => void): void => {
  try {
    run()
  } catch {
    // the first failure is the one reported
  }
}

/**
 * data/ as the write found it, from one lstat and one listing: what the writer would
 * otherwise look up name by name. The caller serialises writes to one directory, so
 * nothing else changes it meanwhile.
 */
interface DataDirState {
  /** Absent when the write created data/. */
  readonly stat: fs.Stats | undefined
  readonly entries: ReadonlyMap<string, fs.Dirent>
}

const readState = (dataDir: string): DataDirState => {
  const stat = step("mkdir", dataDir, () => fs.lstatSync(dataDir, { throwIfNoEntry: false }))
  if (stat === undefined) {
    step("mkdir", dataDir, () => fs.mkdirSync(dataDir, { mode: writableDirMode }))
    return { stat, entries: new Map() }
  }
  const listing = step("list", dataDir, () => fs.readdirSync(dataDir, { withFileTypes: true }))
  return { stat, entries: new Map(listing.map((entry) => [entry.name, entry])) }
}

/**
 * Makes `dataDir/name` a symlink to `..data/name`, replacing anything else there atomically
 * (through a temporary link; the caller has cleared its name).
 */
const ensureVisibleLink = (dataDir: string, name: string, found: fs.Dirent | undefined): void => {
  const visible = child(dataDir, name)
  const wanted = `${dataLink}/${name}`
  step("link", visible, () => {
    if (found === undefined) return fs.symlinkSync(wanted, visible)
    if (found.isSymbolicLink() && fs.readlinkSync(visible) === wanted) return
    const tmp = child(dataDir, linkTmp)
    fs.symlinkSync(wanted, tmp)
    fs.renameSync(tmp, visible)
  })
}

/**
 * Removes, from data/'s listing before the swap, user-visible symlinks whose names are not
 * in the new set, and generations other than the previous one (the new one is not listed).
 */
const removeStale = (
  dataDir: string,
  entries: ReadonlyMap<string, fs.Dirent>,
  keepNames: ReadonlySet<string>,
  previous: string | undefined,
): void => {
  for (const entry of entries.values()) {
    const target = child(dataDir, entry.name)
    if (entry.isSymbolicLink() && !entry.name.startsWith("..") && !keepNames.has(entry.name)) {
      step("unlink", target, () => ifExists(target, () => fs.unlinkSync(target)))
    } else if (entry.isDirectory() && generationPattern.test(entry.name) && entry.name !== previous) {
      removeTreeSteps(target)
    }
  }
}

/** data/ is 0550 (group = `group` when given) whenever no write is in progress. */
const sealDataDir = (dataDir: string, group: number | undefined): void => {
  if (group !== undefined) step("chown", dataDir, () => fs.chownSync(dataDir, -1, group))
  step("chmod", dataDir, () => fs.chmodSync(dataDir, dataDirMode))
}

/** Whether data/, as found, is sealed already: 0550 and, when a group is given, of that group. */
const isSealed = (stat: fs.Stats | undefined, group: number | undefined): boolean =>
  stat !== undefined && (stat.mode & 0o7777) === dataDirMode && (group === undefined || stat.gid === group)

const isDenied = (cause: unknown): boolean => (cause as NodeJS.ErrnoException | undefined)?.code === "EACCES"

const writeGeneration = (
  dataDir: string,
  files: ReadonlyArray<FileToWrite>,
  group: number | undefined,
  now: number,
  openDataDir: () => void,
): string => {
  const prefix = child(dataDir, generationPrefix(now))
  const generationDir = step("mkdir", dataDir, () => {
    try {
      return fs.mkdtempSync(prefix)
    } catch (cause) {
      // A sealed data/ takes entries only from root (whose privilege spares it two chmods a write).
      if (!isDenied(cause)) throw cause
      openDataDir()
      return fs.mkdtempSync(prefix)
    }
  })
  try {
    for (const file of files) {
      const target = child(generationDir, file.name)
      step("write", target, () => writeNewFile(target, file.data, fileMode, group))
    }
    if (group !== undefined) step("chown", generationDir, () => fs.chownSync(generationDir, -1, group))
    step("chmod", generationDir, () => fs.chmodSync(generationDir, generationDirMode))
  } catch (failure) {
    bestEffort(() => removeTreeSteps(generationDir))
    throw failure
  }
  return path.basename(generationDir)
}

/** Points `..data` at `generation` with one rename, the step that makes the new set visible. */
const swapDataLink = (dataDir: string, generation: string): void => {
  const tmp = child(dataDir, dataLinkTmp)
  step("link", tmp, () => {
    fs.symlinkSync(generation, tmp)
    fs.renameSync(tmp, child(dataDir, dataLink))
  })
}

const writeSteps = (
  dataDir: string,
  files: ReadonlyArray<FileToWrite>,
  group: number | undefined,
  now: number,
): void => {
  const { stat, entries } = readState(dataDir)
  // data/ is opened for writing only when the write needs it to be (not as root); sealed when it is not so already.
  let sealed = isSealed(stat, group)
  const openDataDir = () => {
    sealed = false
    step("chmod", dataDir, () => fs.chmodSync(dataDir, writableDirMode))
  }
  try {
    const link = child(dataDir, dataLink)
    const previous = entries.has(dataLink) ? step("readlink", link, () => fs.readlinkSync(link)) : undefined
    const generation = writeGeneration(dataDir, files, group, now, openDataDir)
    // Temporary links a killed writer left: each swap below renames its own away again.
    for (const tmp of [dataLinkTmp, linkTmp]) {
      if (entries.has(tmp)) step("link", child(dataDir, tmp), () => fs.unlinkSync(child(dataDir, tmp)))
    }
    swapDataLink(dataDir, generation)
    for (const file of files) ensureVisibleLink(dataDir, file.name, entries.get(file.name))
    removeStale(dataDir, entries, new Set(files.map((file) => file.name)), previous)
    if (!sealed) sealDataDir(dataDir, group)
  } catch (failure) {
    if (!sealed) bestEffort(() => sealDataDir(dataDir, group))
    throw failure
  }
}

/**
 * Replaces the file set in `dataDir` (created if missing; its parent must exist): files
 * 0440, directories 0550, group-owned by `group` when given. The caller serialises
 * writes to one directory.
 */
export const writeAtomically = (
  dataDir: string,
  files: ReadonlyArray<FileToWrite>,
  group: number | undefined,
): Effect.Effect<void, StorageError> =>
  validateFiles(dataDir, files).pipe(
    Effect.andThen(Clock.currentTimeMillis),
    Effect.flatMap((now) => runSteps("write", dataDir, () => writeSteps(dataDir, files, group, now))),
  )

/** Reads `name` from the current set (through `..data`); none when there is no set or no such file. */
export const readCurrent = (
  dataDir: string,
  name: string,
): Effect.Effect<Option.Option<Uint8Array>, StorageError> => {
  if (!isPlainName(name)) return invalid("read", path.join(dataDir, dataLink, name), "invalid file name")
  const target = child(child(dataDir, dataLink), name)
  return tryFsIfExists("read", target, () => fs.readFileSync(target)).pipe(
    Effect.map(Option.map((buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength))),
  )
}

/**
 * The driver's local state, one directory per volume under the data root (a tmpfs, so
 * nothing outlives the node's boot):
 *
 *   <root>/<volumeId>/            0700
 *   <root>/<volumeId>/metadata.json  0600, replaced atomically (temp file, rename)
 *   <root>/<volumeId>/<secret>     0600, root-only: pending private key, PKCS#12 password
 *   <root>/<volumeId>/data/        0550, group = fsGroup; the atomic writer's file sets
 *
 * Only data/ is bind-mounted into the pod; secrets never go there. The live layer also
 * registers a liveness check proving the root still takes writes.
 *
 * Filesystem calls are synchronous and unsynced, like the atomic writer's: on a tmpfs each
 * is a memory operation of a few µs, the async form costs ~10× more CPU in round trips, and
 * fsync is a no-op there. Only the liveness probe stays async, so a wedged root cannot block
 * the event loop and Health's timeout still fires.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import type { PodInfo } from "../attributes/spec.js"
import { Config } from "../config.js"
import { Health } from "../observability/health.js"
import {
  bestEffort,
  type FileToWrite,
  ifExists,
  isPlainName,
  makeDirIfMissing,
  readCurrent,
  removeTree,
  runSteps,
  step,
  tryFsIfExists,
  writeAtomically,
  writeNewFile,
} from "./atomic-writer.js"
import { reasonOf, StorageError } from "./errors.js"
import { child } from "./paths.js"

export interface Issuance {
  /** The request the certificate came from; absent for files taken back from an earlier data root. */
  readonly requestName?: string
  readonly notBefore: string
  readonly notAfter: string
  readonly nextIssuanceAt: string
}

export interface VolumeMetadata {
  readonly volumeId: string
  readonly targetPath: string
  readonly pod: PodInfo
  /** volume_context minus anything secret (the caller strips tokens and the PKCS#12 password). */
  readonly attributes: Readonly<Record<string, string>>
  readonly volumeMountGroup?: string
  /** ISO 8601. */
  readonly createdAt: string
  readonly issuance?: Issuance
  readonly pendingRequest?: { readonly namespace: string; readonly name: string }
  /** ISO 8601: when the pod watch showed the pod gone. Never issued again; kubelet's unpublish removes it. */
  readonly podGoneAt?: string
}

const PodInfoSchema = Schema.Struct({
  name: Schema.String,
  namespace: Schema.String,
  uid: Schema.String,
  serviceAccountName: Schema.String,
  ips: Schema.optionalKey(Schema.Array(Schema.String)),
})

/** metadata.json's shape; unknown keys are ignored so a newer driver's file still reads. */
export const VolumeMetadataSchema: Schema.Codec<VolumeMetadata> = Schema.Struct({
  volumeId: Schema.String,
  targetPath: Schema.String,
  pod: PodInfoSchema,
  attributes: Schema.Record(Schema.String, Schema.String),
  volumeMountGroup: Schema.optionalKey(Schema.String),
  createdAt: Schema.String,
  issuance: Schema.optionalKey(
    Schema.Struct({
      requestName: Schema.optionalKey(Schema.String),
      notBefore: Schema.String,
      notAfter: Schema.String,
      nextIssuanceAt: Schema.String,
    }),
  ),
  pendingRequest: Schema.optionalKey(Schema.Struct({ namespace: Schema.String, name: Schema.String })),
  podGoneAt: Schema.optionalKey(Schema.String),
})

const MetadataJson = Schema.fromJsonString(VolumeMetadataSchema)
const encodeMetadata = Schema.encodeEffect(MetadataJson)
const decodeMetadata = Schema.decodeUnknownEffect(MetadataJson)

export interface VolumeList {
  readonly volumes: ReadonlyArray<VolumeMetadata>
  /** Volume directories without readable metadata (absent or corrupt). */
  readonly orphans: ReadonlyArray<string>
}

export const metadataFile = "metadata.json"
export const dataDirName = "data"

/** Defence in depth: the caller validated already, but a `/` or `..` here would escape the root. */
export const isValidVolumeId = (volumeId: string): boolean =>
  volumeId !== "" &&
  volumeId !== "." &&
  volumeId !== ".." &&
  !volumeId.includes("/") &&
  !volumeId.includes("\0")

/** Secrets sit beside metadata.json and data/, so those names (and dot-files, used for temp files) are refused. */
export const isValidSecretName = (name: string): boolean =>
  isPlainName(name) && !name.startsWith(".") && name !== metadataFile && name !== dataDirName

export class VolumeStore extends Context.Service<
  VolumeStore,
  {
    /** Creates the volume directory and writes its metadata (replacing any already there). */
    readonly register: (meta: VolumeMetadata) => Effect.Effect<void, StorageError>
    /** None when the volume directory or its metadata is absent; corrupt metadata fails. */
    readonly read: (volumeId: string) => Effect.Effect<Option.Option<VolumeMetadata>, StorageError>
    /** Read, apply `f`, write back; fails when the volume is not registered. */
    readonly update: (
      volumeId: string,
      f: (meta: VolumeMetadata) => VolumeMetadata,
    ) => Effect.Effect<VolumeMetadata, StorageError>
    readonly list: () => Effect.Effect<VolumeList, StorageError>
    /** rm -rf of the volume directory; removing an absent volume succeeds. */
    readonly remove: (volumeId: string) => Effect.Effect<void, StorageError>
    /** The directory to bind-mount into the pod. */
    readonly dataDir: (volumeId: string) => string
    /** Replaces the volume's file set atomically: files 0440, group-owned by `group` when given. */
    readonly writeFiles: (
      volumeId: string,
      files: ReadonlyArray<FileToWrite>,
      group: number | undefined,
    ) => Effect.Effect<void, StorageError>
    /** A file of the current set; none when absent. */
    readonly readFile: (
      volumeId: string,
      name: string,
    ) => Effect.Effect<Option.Option<Uint8Array>, StorageError>
    /** A root-only (0600) file outside data/, replaced atomically. */
    readonly writeSecret: (
      volumeId: string,
      name: string,
      data: Redacted.Redacted<string>,
    ) => Effect.Effect<void, StorageError>
    readonly readSecret: (
      volumeId: string,
      name: string,
    ) => Effect.Effect<Option.Option<Redacted.Redacted<string>>, StorageError>
    /** Idempotent. */
    readonly removeSecret: (volumeId: string, name: string) => Effect.Effect<void, StorageError>
  }
>()("csi/VolumeStore") {
  /** Files under `root`, without the health check (for tools and tests). */
  static readonly make = (root: string): VolumeStore["Service"] => makeStore(root)

  /** Files under `Config.dataRoot`, plus the `data-root` liveness check. */
  static readonly layer = Layer.effect(
    VolumeStore,
    Effect.gen(function* () {
      const config = yield* Config
      const health = yield* Health
      yield* health.register({ name: "data-root", kind: "liveness", run: probeDataRoot(config.dataRoot) })
      return makeStore(config.dataRoot)
    }),
  )
}

const invalid = (operation: string, target: string, reason: string) =>
  Effect.fail(new StorageError({ operation, path: target, reason }))

// randomUUID draws from a cached entropy pool: a tenth of randomBytes' cost per call
const randomSuffix = () => randomUUID()

/** Temp file in the same directory, renamed over `target`; the temp file goes on failure. A step. */
const replaceFileStep = (operation: string, target: string, data: string, mode: number): void => {
  // `target` is the store's own (normal) path: its directory ends at the last slash.
  const slash = target.lastIndexOf("/") + 1
  const tmp = `${target.slice(0, slash)}.${target.slice(slash)}.${randomSuffix()}.tmp`
  step(operation, target, () => {
    try {
      writeNewFile(tmp, data, mode, undefined)
      fs.renameSync(tmp, target)
    } catch (cause) {
      bestEffort(() => ifExists(tmp, () => fs.unlinkSync(tmp)))
      throw cause
    }
  })
}

const replaceFile = (operation: string, target: string, data: string, mode: number) =>
  runSteps(operation, target, () => replaceFileStep(operation, target, data, mode))

const makeStore = (root: string): VolumeStore["Service"] => {
  // An invalid id never gets past checkId to the disk; in messages it reads as path.join writes it.
  const volumeDir = (volumeId: string) =>
    isValidVolumeId(volumeId) ? child(root, volumeId) : path.join(root, volumeId)
  const metadataPath = (volumeId: string) => child(volumeDir(volumeId), metadataFile)
  const dataDir = (volumeId: string) => child(volumeDir(volumeId), dataDirName)

  const checkId = (operation: string, volumeId: string) =>
    isValidVolumeId(volumeId)
      ? Effect.void
      : invalid(operation, path.join(root, volumeId), "invalid volume id")

  const checkSecretName = (operation: string, volumeId: string, name: string) =>
    isValidSecretName(name)
      ? Effect.void
      : invalid(operation, path.join(root, volumeId, name), "invalid secret name")

  const checkRegistered = (operation: string, volumeId: string) =>
    runSteps(operation, volumeDir(volumeId), () =>
      fs.lstatSync(volumeDir(volumeId), { throwIfNoEntry: false }),
    ).pipe(
      Effect.flatMap((stat) =>
        stat !== undefined
          ? Effect.void
          : invalid(operation, volumeDir(volumeId), "volume is not registered"),
      ),
    )

  const encode = (operation: string, meta: VolumeMetadata) =>
    encodeMetadata(meta).pipe(
      Effect.mapError(
        (error) => new StorageError({ operation, path: metadataPath(meta.volumeId), reason: error.message }),
      ),
    )

  const writeMetadata = (operation: string, meta: VolumeMetadata) =>
    Effect.flatMap(encode(operation, meta), (json) =>
      replaceFile(operation, metadataPath(meta.volumeId), json, 0o600),
    )

  const read = Effect.fnUntraced(function* (volumeId: string) {
    yield* checkId("read", volumeId)
    const file = metadataPath(volumeId)
    const text = yield* tryFsIfExists("read", file, () => fs.readFileSync(file, "utf8"))
    if (Option.isNone(text)) return Option.none<VolumeMetadata>()
    const meta = yield* decodeMetadata(text.value).pipe(
      Effect.mapError(
        (error) =>
          new StorageError({ operation: "read", path: file, reason: `corrupt metadata: ${error.message}` }),
      ),
    )
    return Option.some(meta)
  })

  return VolumeStore.of({
    register: Effect.fnUntraced(function* (meta: VolumeMetadata) {
      yield* checkId("register", meta.volumeId)
      const json = yield* encode("register", meta)
      const dir = volumeDir(meta.volumeId)
      yield* runSteps("register", dir, () => {
        makeDirIfMissing(dir, 0o700)
        step("register", dir, () => fs.chmodSync(dir, 0o700))
        // Empty until the first certificate, but mountable: --continue-on-not-ready binds it at once.
        makeDirIfMissing(dataDir(meta.volumeId), 0o550)
        replaceFileStep("register", metadataPath(meta.volumeId), json, 0o600)
      })
    }),

    read,

    update: Effect.fnUntraced(function* (volumeId: string, f: (meta: VolumeMetadata) => VolumeMetadata) {
      const current = yield* read(volumeId)
      if (Option.isNone(current))
        return yield* invalid("update", metadataPath(volumeId), "volume is not registered")
      const next = f(current.value)
      if (next.volumeId !== volumeId) {
        return yield* invalid(
          "update",
          metadataPath(volumeId),
          `update changed the volume id to ${next.volumeId}`,
        )
      }
      yield* writeMetadata("update", next)
      return next
    }),

    list: Effect.fnUntraced(function* () {
      const entries = yield* tryFsIfExists("list", root, () => fs.readdirSync(root, { withFileTypes: true }))
      const dirs = Option.getOrElse(entries, () => [])
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name)
        .sort()
      const volumes: Array<VolumeMetadata> = []
      const orphans: Array<string> = []
      for (const name of dirs) {
        const meta = yield* Effect.option(read(name))
        if (Option.isSome(meta) && Option.isSome(meta.value)) volumes.push(meta.value.value)
        else orphans.push(name)
      }
      return { volumes, orphans }
    }),

    remove: Effect.fnUntraced(function* (volumeId: string) {
      yield* checkId("remove", volumeId)
      yield* removeTree(volumeDir(volumeId))
    }),

    dataDir,

    writeFiles: Effect.fnUntraced(function* (
      volumeId: string,
      files: ReadonlyArray<FileToWrite>,
      group: number | undefined,
    ) {
      yield* checkId("write", volumeId)
      yield* checkRegistered("write", volumeId)
      yield* writeAtomically(dataDir(volumeId), files, group)
    }),

    readFile: Effect.fnUntraced(function* (volumeId: string, name: string) {
      yield* checkId("read", volumeId)
      return yield* readCurrent(dataDir(volumeId), name)
    }),

    writeSecret: Effect.fnUntraced(function* (
      volumeId: string,
      name: string,
      data: Redacted.Redacted<string>,
    ) {
      yield* checkId("write", volumeId)
      yield* checkSecretName("write", volumeId, name)
      yield* checkRegistered("write", volumeId)
      yield* replaceFile("write", child(volumeDir(volumeId), name), Redacted.value(data), 0o600)
    }),

    readSecret: Effect.fnUntraced(function* (volumeId: string, name: string) {
      yield* checkId("read", volumeId)
      yield* checkSecretName("read", volumeId, name)
      const file = child(volumeDir(volumeId), name)
      const text = yield* tryFsIfExists("read", file, () => fs.readFileSync(file, "utf8"))
      return Option.map(text, (value) => Redacted.make(value))
    }),

    removeSecret: Effect.fnUntraced(function* (volumeId: string, name: string) {
      yield* checkId("remove", volumeId)
      yield* checkSecretName("remove", volumeId, name)
      const file = child(volumeDir(volumeId), name)
      yield* tryFsIfExists("remove", file, () => fs.unlinkSync(file))
    }),
  })
}

/** The probe's adapter: one `node:fs/promises` call; a rejection becomes a StorageError. */
const tryFsAsync = <A>(operation: string, target: string, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (cause) => new StorageError({ operation, path: target, reason: reasonOf(cause) }),
  })

/**
 * Proves `root` takes writes now: write, fsync, read back and delete a small probe file.
 * A read-only, removed or replaced root fails; a wedged one trips Health's timeout.
 */
export const probeDataRoot = (root: string): Effect.Effect<void, string> =>
  Effect.suspend(() => {
    // a fresh name per run: a probe left behind by a crash must not block the next one
    const probe = path.join(root, `.probe-${process.pid}-${randomSuffix()}`)
    const token = randomSuffix()
    return Effect.gen(function* () {
      yield* tryFsAsync("write", probe, async () => {
        const handle = await fsp.open(probe, "wx", 0o600)
        await (async () => {
          await handle.writeFile(token)
          await handle.sync()
        })().finally(() => handle.close())
      })
      const back = yield* tryFsAsync("read", probe, () => fsp.readFile(probe, "utf8"))
      if (back !== token) return yield* invalid("read", probe, "probe file read back different content")
      yield* tryFsAsync("remove", probe, () => fsp.unlink(probe))
    }).pipe(
      // best effort, and the unlink of an absent probe failing is as good as success here
      Effect.onError(() => Effect.ignore(tryFsAsync("remove", probe, () => fsp.unlink(probe)))),
      Effect.mapError((error) => error.message),
    )
  })

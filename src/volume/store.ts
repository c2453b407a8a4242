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
import { Context, Effect, Layer, Option, Redacted, Result, Schema } from "effect"
import type { PodInfo } from "../attributes/spec.js"
import { Config } from "../config.js"
import { Health } from "../observability/health.js"
import { RecentlyDecoded } from "../recently-decoded.js"
import {
  bestEffort,
  type FileToWrite,
  ifExists,
  isPlainName,
  makeDirIfMissing,
  readCurrent,
  readIfExists,
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
// The Result form: a pure function needs no fiber of its own (the Effect form costs ~40% more per call).
const decodeMetadata = Schema.decodeUnknownResult(MetadataJson)

/** Every key of T, an absent optional one as undefined (which JSON.stringify leaves out). */
type EveryKey<T> = { readonly [K in keyof Required<T>]: unknown }

/**
 * metadata.json's text: exactly what the schema's encoder writes (its key order, no other
 * keys), put together directly. The encoder cost ~0.2 ms a call in the driver, three calls a
 * publish, to check what the types guarantee already. `satisfies` makes a key added to the
 * types a compile error here; test/volume/store.test.ts holds the text to the schema's.
 */
export const metadataJson = (m: VolumeMetadata): string => {
  const { pod, issuance, pendingRequest } = m
  return JSON.stringify({
    volumeId: m.volumeId,
    targetPath: m.targetPath,
    pod: {
      name: pod.name,
      namespace: pod.namespace,
      uid: pod.uid,
      serviceAccountName: pod.serviceAccountName,
      ips: pod.ips,
    } satisfies EveryKey<PodInfo>,
    attributes: m.attributes,
    volumeMountGroup: m.volumeMountGroup,
    createdAt: m.createdAt,
    issuance:
      issuance === undefined
        ? undefined
        : ({
            requestName: issuance.requestName,
            notBefore: issuance.notBefore,
            notAfter: issuance.notAfter,
            nextIssuanceAt: issuance.nextIssuanceAt,
          } satisfies EveryKey<Issuance>),
    pendingRequest:
      pendingRequest === undefined
        ? undefined
        : ({ namespace: pendingRequest.namespace, name: pendingRequest.name } satisfies EveryKey<
            NonNullable<VolumeMetadata["pendingRequest"]>
          >),
    podGoneAt: m.podGoneAt,
  } satisfies EveryKey<VolumeMetadata>)
}

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

// Temp names: random per process, so none can meet a name left by a crash of an earlier run; counted within it.
const tempTag = `${randomSuffix()}-`
let tempCount = 0

/** Temp file in the same directory, renamed over `target`; the temp file goes on failure. A step. */
const replaceFileStep = (operation: string, target: string, data: string, mode: number): void => {
  // `target` is the store's own (normal) path: its directory ends at the last slash.
  const slash = target.lastIndexOf("/") + 1
  const tmp = `${target.slice(0, slash)}.${target.slice(slash)}.${tempTag}${tempCount++}.tmp`
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

  const badId = (operation: string, volumeId: string) =>
    invalid(operation, path.join(root, volumeId), "invalid volume id")
  const checkId = (operation: string, volumeId: string) =>
    isValidVolumeId(volumeId) ? Effect.void : badId(operation, volumeId)

  const badSecretName = (operation: string, volumeId: string, name: string) =>
    invalid(operation, path.join(root, volumeId, name), "invalid secret name")

  /**
   * A write into the volume's directory that failed fails as "not registered" when that
   * directory is absent. Looked up only after a failure: a registered volume, the usual
   * case, costs no lookup.
   */
  const unlessUnregistered =
    (operation: string, volumeId: string) =>
    <A>(write: Effect.Effect<A, StorageError>): Effect.Effect<A, StorageError> =>
      Effect.catch(write, (error) =>
        runSteps(operation, volumeDir(volumeId), () =>
          fs.lstatSync(volumeDir(volumeId), { throwIfNoEntry: false }),
        ).pipe(
          Effect.flatMap((stat) =>
            stat !== undefined
              ? Effect.fail(error)
              : invalid(operation, volumeDir(volumeId), "volume is not registered"),
          ),
        ),
      )

  /**
   * The last few metadata texts read or written, by volume, each with its decoded value. A
   * read still reads the file, the source of truth, and takes the value from here only when
   * the text is the same character for character: decoding is a pure function of the text,
   * so no entry can go stale. It spares an issuance's reads and updates the decode of what
   * the one before just wrote; bounded, so an idle volume costs nothing here.
   */
  const decoded = new RecentlyDecoded<{ readonly text: string; readonly meta: VolumeMetadata }>({
    entries: 16,
    bytes: Number.POSITIVE_INFINITY,
    entryBytes: Number.POSITIVE_INFINITY,
  })

  /** metadata.json's value for `text`, read from `file` just now; decoded unless the cache has it. */
  const decode = (
    volumeId: string,
    file: string,
    text: string,
  ): Effect.Effect<VolumeMetadata, StorageError> => {
    const known = decoded.get(volumeId)?.value
    if (known?.text === text) return Effect.succeed(known.meta)
    const meta = decodeMetadata(text)
    if (Result.isFailure(meta)) return invalid("read", file, `corrupt metadata: ${meta.failure.message}`)
    decoded.set(volumeId, { text, meta: meta.success }, 0)
    return Effect.succeed(meta.success)
  }

  /** Writes `meta` as `json` (its encoding) and remembers the pair: the next read finds that text. */
  const writeMetadataStep = (operation: string, meta: VolumeMetadata, json: string): void => {
    replaceFileStep(operation, metadataPath(meta.volumeId), json, 0o600)
    decoded.set(meta.volumeId, { text: json, meta }, 0)
  }

  /**
   * metadata.json's text; none when it or the volume directory is absent. `expected`: the
   * file is most likely there, so it is read at once rather than looked up first (the lookup
   * is a call of its own, while the error a missing file raises costs several lookups).
   */
  const readText = (operation: string, file: string, expected: boolean) =>
    expected
      ? runSteps(operation, file, () => Option.fromUndefinedOr(readIfExists(file)))
      : tryFsIfExists(operation, file, () => fs.readFileSync(file, "utf8"))

  // The calls of an issuance are composed directly rather than as generators: a few Effects
  // each, where a generator's steps cost as much as the file calls on a tmpfs.
  const read = (volumeId: string): Effect.Effect<Option.Option<VolumeMetadata>, StorageError> => {
    if (!isValidVolumeId(volumeId)) return badId("read", volumeId)
    const file = metadataPath(volumeId)
    // Metadata met lately is read at once; other metadata (a publish's first look) looked up first.
    return Effect.flatMap(
      Effect.suspend(() => readText("read", file, decoded.has(volumeId))),
      (text) =>
        Option.isNone(text)
          ? Effect.succeedNone
          : Effect.map(decode(volumeId, file, text.value), Option.some),
    )
  }

  return VolumeStore.of({
    register: Effect.fnUntraced(function* (meta: VolumeMetadata) {
      yield* checkId("register", meta.volumeId)
      const json = metadataJson(meta)
      const dir = volumeDir(meta.volumeId)
      yield* runSteps("register", dir, () => {
        const created = makeDirIfMissing(dir, 0o700)
        step("register", dir, () => fs.chmodSync(dir, 0o700))
        // Empty until the first certificate, but mountable: --continue-on-not-ready binds it at once.
        const data = dataDir(meta.volumeId)
        if (created) step("mkdir", data, () => fs.mkdirSync(data, { mode: 0o550 }))
        else makeDirIfMissing(data, 0o550)
        writeMetadataStep("register", meta, json)
      })
    }),

    read,

    update: (volumeId, f) => {
      if (!isValidVolumeId(volumeId)) return badId("read", volumeId)
      const file = metadataPath(volumeId)
      return readText("read", file, true).pipe(
        Effect.flatMap((text) =>
          Option.isNone(text)
            ? invalid("update", file, "volume is not registered")
            : decode(volumeId, file, text.value),
        ),
        Effect.flatMap((current) => {
          const next = f(current)
          if (next.volumeId !== volumeId) {
            return invalid("update", file, `update changed the volume id to ${next.volumeId}`)
          }
          return runSteps("update", file, () => {
            writeMetadataStep("update", next, metadataJson(next))
            return next
          })
        }),
      )
    },

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
      decoded.delete(volumeId)
      yield* removeTree(volumeDir(volumeId))
    }),

    dataDir,

    writeFiles: (volumeId, files, group) =>
      isValidVolumeId(volumeId)
        ? writeAtomically(dataDir(volumeId), files, group).pipe(unlessUnregistered("write", volumeId))
        : badId("write", volumeId),

    readFile: Effect.fnUntraced(function* (volumeId: string, name: string) {
      yield* checkId("read", volumeId)
      return yield* readCurrent(dataDir(volumeId), name)
    }),

    writeSecret: (volumeId, name, data) => {
      if (!isValidVolumeId(volumeId)) return badId("write", volumeId)
      if (!isValidSecretName(name)) return badSecretName("write", volumeId, name)
      return replaceFile("write", child(volumeDir(volumeId), name), Redacted.value(data), 0o600).pipe(
        unlessUnregistered("write", volumeId),
      )
    },

    readSecret: (volumeId, name) => {
      if (!isValidVolumeId(volumeId)) return badId("read", volumeId)
      if (!isValidSecretName(name)) return badSecretName("read", volumeId, name)
      const file = child(volumeDir(volumeId), name)
      return tryFsIfExists("read", file, () => Redacted.make(fs.readFileSync(file, "utf8")))
    },

    removeSecret: (volumeId, name) => {
      if (!isValidVolumeId(volumeId)) return badId("remove", volumeId)
      if (!isValidSecretName(name)) return badSecretName("remove", volumeId, name)
      const file = child(volumeDir(volumeId), name)
      return Effect.asVoid(tryFsIfExists("remove", file, () => fs.unlinkSync(file)))
    },
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

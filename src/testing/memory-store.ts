/**
 * An in-memory `VolumeStore` for tests (ours and users'): the live store's rules
 * (name checks, "not registered" failures, whole-set replacement of files, metadata
 * passed through the same Schema) without touching disk. `MemoryVolumeStore` is the
 * test's handle for looking inside and for planting corrupt metadata.
 */
import * as path from "node:path"
import { Context, Effect, Layer, Option, type Redacted, Schema } from "effect"
import { isPlainName } from "../volume/atomic-writer.js"
import { StorageError } from "../volume/errors.js"
import {
  dataDirName,
  isValidSecretName,
  isValidVolumeId,
  metadataFile,
  type VolumeMetadata,
  VolumeMetadataSchema,
  VolumeStore,
} from "../volume/store.js"

/** What one volume holds, as a test sees it. */
export interface MemoryVolume {
  /** None when the metadata is corrupt (see `corruptMetadata`). */
  readonly metadata: Option.Option<VolumeMetadata>
  /** The current file set; empty before the first `writeFiles`. */
  readonly files: ReadonlyMap<string, Uint8Array>
  /** The group the current set was written with. */
  readonly group: number | undefined
  /** How many file sets have been written. */
  readonly generation: number
  readonly secrets: ReadonlyMap<string, Redacted.Redacted<string>>
}

interface Entry {
  metadata: VolumeMetadata | "corrupt"
  files: ReadonlyMap<string, Uint8Array>
  group: number | undefined
  generation: number
  secrets: Map<string, Redacted.Redacted<string>>
}

/** Where `dataDir` pretends volumes live: the driver's default data root. */
export const memoryStoreRoot = "/csi-data-dir"

const MetadataJson = Schema.fromJsonString(VolumeMetadataSchema)
/** The same Schema round trip the live store makes, so both accept and return the same things. */
const roundTrip = (meta: VolumeMetadata, file: string) =>
  Schema.encodeEffect(MetadataJson)(meta).pipe(
    Effect.flatMap(Schema.decodeUnknownEffect(MetadataJson)),
    Effect.mapError((error) => new StorageError({ operation: "write", path: file, reason: error.message })),
  )

const toBytes = (data: string | Uint8Array): Uint8Array =>
  typeof data === "string" ? new TextEncoder().encode(data) : Uint8Array.from(data)

export class MemoryVolumeStore extends Context.Service<
  MemoryVolumeStore,
  {
    readonly volumeIds: Effect.Effect<ReadonlyArray<string>>
    readonly inspect: (volumeId: string) => Effect.Effect<Option.Option<MemoryVolume>>
    /** Makes the volume's metadata unreadable (creating the volume if needed): `read` fails, `list` calls it an orphan. */
    readonly corruptMetadata: (volumeId: string) => Effect.Effect<void>
  }
>()("csi/testing/MemoryVolumeStore") {
  /** Provides `VolumeStore` and this handle onto the same memory. */
  static readonly layer: Layer.Layer<VolumeStore | MemoryVolumeStore> = Layer.effectContext(
    Effect.sync(() => {
      const [store, handle] = makeMemoryStore(memoryStoreRoot)
      return Context.make(VolumeStore, store).pipe(Context.add(MemoryVolumeStore, handle))
    }),
  )
}

const makeMemoryStore = (root: string): readonly [VolumeStore["Service"], MemoryVolumeStore["Service"]] => {
  const volumes = new Map<string, Entry>()
  const volumeDir = (volumeId: string) => path.join(root, volumeId)
  const dataDir = (volumeId: string) => path.join(root, volumeId, dataDirName)
  const fail = (operation: string, target: string, reason: string) =>
    Effect.fail(new StorageError({ operation, path: target, reason }))

  const checkId = (operation: string, volumeId: string) =>
    isValidVolumeId(volumeId) ? Effect.void : fail(operation, volumeDir(volumeId), "invalid volume id")
  const checkSecretName = (operation: string, volumeId: string, name: string) =>
    isValidSecretName(name)
      ? Effect.void
      : fail(operation, path.join(volumeDir(volumeId), name), "invalid secret name")
  const registered = (operation: string, volumeId: string) =>
    Effect.suspend(() => {
      const entry = volumes.get(volumeId)
      return entry === undefined
        ? fail(operation, volumeDir(volumeId), "volume is not registered")
        : Effect.succeed(entry)
    })

  const read = (volumeId: string) =>
    Effect.gen(function* () {
      yield* checkId("read", volumeId)
      const entry = volumes.get(volumeId)
      if (entry === undefined) return Option.none<VolumeMetadata>()
      if (entry.metadata === "corrupt") {
        return yield* fail("read", path.join(volumeDir(volumeId), metadataFile), "corrupt metadata")
      }
      return Option.some(entry.metadata)
    })

  const store = VolumeStore.of({
    register: (meta) =>
      Effect.gen(function* () {
        yield* checkId("register", meta.volumeId)
        const stored = yield* roundTrip(meta, path.join(volumeDir(meta.volumeId), metadataFile))
        const entry = volumes.get(meta.volumeId)
        if (entry === undefined) {
          volumes.set(meta.volumeId, {
            metadata: stored,
            files: new Map(),
            group: undefined,
            generation: 0,
            secrets: new Map(),
          })
        } else entry.metadata = stored
      }),

    read,

    update: (volumeId, f) =>
      Effect.gen(function* () {
        const file = path.join(volumeDir(volumeId), metadataFile)
        const current = yield* read(volumeId)
        if (Option.isNone(current)) return yield* fail("update", file, "volume is not registered")
        const next = f(current.value)
        if (next.volumeId !== volumeId) {
          return yield* fail("update", file, `update changed the volume id to ${next.volumeId}`)
        }
        const stored = yield* roundTrip(next, file)
        const entry = yield* registered("update", volumeId)
        entry.metadata = stored
        return stored
      }),

    list: () =>
      Effect.sync(() => {
        const ids = [...volumes.keys()].sort()
        const volumesOut: Array<VolumeMetadata> = []
        const orphans: Array<string> = []
        for (const id of ids) {
          const metadata = volumes.get(id)?.metadata
          if (metadata === undefined || metadata === "corrupt") orphans.push(id)
          else volumesOut.push(metadata)
        }
        return { volumes: volumesOut, orphans }
      }),

    remove: (volumeId) =>
      checkId("remove", volumeId).pipe(
        Effect.andThen(
          Effect.sync(() => {
            volumes.delete(volumeId)
          }),
        ),
      ),

    dataDir,

    writeFiles: (volumeId, files, group) =>
      Effect.gen(function* () {
        yield* checkId("write", volumeId)
        const entry = yield* registered("write", volumeId)
        const next = new Map<string, Uint8Array>()
        for (const file of files) {
          const target = path.join(dataDir(volumeId), file.name)
          if (!isPlainName(file.name)) return yield* fail("write", target, "invalid file name")
          if (next.has(file.name)) return yield* fail("write", target, "duplicate file name")
          next.set(file.name, toBytes(file.data))
        }
        // one assignment: a reader sees the old set or the new one, like the `..data` swap
        entry.files = next
        entry.group = group
        entry.generation += 1
      }),

    readFile: (volumeId, name) =>
      Effect.gen(function* () {
        yield* checkId("read", volumeId)
        if (!isPlainName(name))
          return yield* fail("read", path.join(dataDir(volumeId), "..data", name), "invalid file name")
        const data = volumes.get(volumeId)?.files.get(name)
        return Option.map(Option.fromUndefinedOr(data), (bytes) => Uint8Array.from(bytes))
      }),

    writeSecret: (volumeId, name, data) =>
      Effect.gen(function* () {
        yield* checkId("write", volumeId)
        yield* checkSecretName("write", volumeId, name)
        const entry = yield* registered("write", volumeId)
        entry.secrets.set(name, data)
      }),

    readSecret: (volumeId, name) =>
      Effect.gen(function* () {
        yield* checkId("read", volumeId)
        yield* checkSecretName("read", volumeId, name)
        return Option.fromUndefinedOr(volumes.get(volumeId)?.secrets.get(name))
      }),

    removeSecret: (volumeId, name) =>
      Effect.gen(function* () {
        yield* checkId("remove", volumeId)
        yield* checkSecretName("remove", volumeId, name)
        volumes.get(volumeId)?.secrets.delete(name)
      }),
  })

  const handle = MemoryVolumeStore.of({
    volumeIds: Effect.sync(() => [...volumes.keys()].sort()),
    inspect: (volumeId) =>
      Effect.sync(() =>
        Option.map(Option.fromUndefinedOr(volumes.get(volumeId)), (entry) => ({
          metadata: entry.metadata === "corrupt" ? Option.none() : Option.some(entry.metadata),
          files: new Map(entry.files),
          group: entry.group,
          generation: entry.generation,
          secrets: new Map(entry.secrets),
        })),
      ),
    corruptMetadata: (volumeId) =>
      Effect.sync(() => {
        const entry = volumes.get(volumeId)
        if (entry === undefined) {
          volumes.set(volumeId, {
            metadata: "corrupt",
            files: new Map(),
            group: undefined,
            generation: 0,
            secrets: new Map(),
          })
        } else entry.metadata = "corrupt"
      }),
  })

  return [store, handle]
}

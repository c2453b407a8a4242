import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import { Config, type DriverConfig } from "../../src/config.js"
import { Health } from "../../src/observability/health.js"
import { MemoryVolumeStore } from "../../src/testing/memory-store.js"
import { removeTree } from "../../src/volume/atomic-writer.js"
import { StorageError } from "../../src/volume/errors.js"
import {
  metadataJson,
  type VolumeMetadata,
  VolumeMetadataSchema,
  VolumeStore,
} from "../../src/volume/store.js"
import { assertFileSetLayout, sampleMetadata, storeScenario } from "./store-scenario.js"

const isRoot = process.getuid?.() === 0

const configFor = (dataRoot: string): DriverConfig => ({
  nodeId: "node-1",
  socketPath: "/tmp/csi.sock",
  driverName: "csi.cert-manager.io",
  dataRoot,
  useTokenRequest: false,
  continueOnNotReady: false,
  metricsAddress: undefined,
  kubeApiQps: 50,
  kubeApiBurst: 100,
  kubeconfig: undefined,
  logLevel: "Info",
  logFormat: "json",
})

/** A fresh data root (a plain directory) for the test's scope, removed afterwards. */
const tempRoot = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "csi-store-"))),
  (dir) => Effect.ignore(removeTree(dir)),
)

/** The live layer over `root`, with the Health service it registers with. */
const liveStore = (root: string) =>
  VolumeStore.layer.pipe(Layer.provideMerge(Layer.mergeAll(Config.layer(configFor(root)), Health.layer)))

const withStore = <A, E>(f: (root: string) => Effect.Effect<A, E, VolumeStore | Health>) =>
  Effect.gen(function* () {
    const root = yield* tempRoot
    return yield* f(root).pipe(Effect.provide(liveStore(root)))
  })

const mode = async (file: string) => (await fs.lstat(file)).mode & 0o7777
const generations = async (dataDir: string) =>
  (await fs.readdir(dataDir)).filter((name) => /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\./.test(name)).sort()

describe("VolumeStore (live, on a plain directory)", () => {
  it.live("register, read, update, list and remove", () =>
    withStore((root) =>
      Effect.gen(function* () {
        const store = yield* VolumeStore
        assert.isTrue(Option.isNone(yield* store.read("vol-1")))
        yield* store.register(sampleMetadata("vol-1"))
        assert.deepStrictEqual(yield* store.read("vol-1"), Option.some(sampleMetadata("vol-1")))
        const updated = yield* store.update("vol-1", (m) => ({ ...m, volumeMountGroup: "2000" }))
        assert.strictEqual(updated.volumeMountGroup, "2000")
        assert.deepStrictEqual(yield* store.read("vol-1"), Option.some(updated))

        const dir = path.join(root, "vol-1")
        assert.strictEqual(yield* Effect.promise(() => mode(dir)), 0o700)
        assert.strictEqual(yield* Effect.promise(() => mode(path.join(dir, "metadata.json"))), 0o600)
        // the atomic metadata write leaves no temp files behind
        assert.deepStrictEqual((yield* Effect.promise(() => fs.readdir(dir))).sort(), [
          "data",
          "metadata.json",
        ])

        yield* store.register(sampleMetadata("vol-2"))
        const listed = yield* store.list()
        assert.deepStrictEqual(
          listed.volumes.map((v) => v.volumeId),
          ["vol-1", "vol-2"],
        )
        assert.deepStrictEqual(listed.orphans, [])

        yield* store.writeFiles("vol-1", [{ name: "tls.crt", data: "x" }], undefined)
        yield* store.writeSecret("vol-1", "key", Redacted.make("k"))
        yield* store.remove("vol-1")
        yield* store.remove("vol-1")
        assert.deepStrictEqual(yield* Effect.promise(() => fs.readdir(root)), ["vol-2"])
        assert.isTrue(Option.isNone(yield* store.read("vol-1")))
        assert.strictEqual(store.dataDir("vol-2"), path.join(root, "vol-2", "data"))
      }),
    ),
  )

  it.live("corrupt or missing metadata is a StorageError on read and an orphan in list", () =>
    withStore((root) =>
      Effect.gen(function* () {
        const store = yield* VolumeStore
        yield* store.register(sampleMetadata("good"))
        yield* Effect.promise(async () => {
          await fs.mkdir(path.join(root, "garbage"))
          await fs.writeFile(path.join(root, "garbage", "metadata.json"), "{not json")
          await fs.mkdir(path.join(root, "wrong-shape"))
          await fs.writeFile(path.join(root, "wrong-shape", "metadata.json"), JSON.stringify({ volumeId: 1 }))
          await fs.mkdir(path.join(root, "empty"))
          await fs.writeFile(path.join(root, "stray-file"), "not a volume")
        })
        for (const id of ["garbage", "wrong-shape"]) {
          const error = yield* Effect.flip(store.read(id))
          assert.instanceOf(error, StorageError)
          assert.include(error.message, path.join(root, id, "metadata.json"))
          assert.include(error.message, "corrupt metadata")
        }
        assert.isTrue(Option.isNone(yield* store.read("empty")))
        const error = yield* Effect.flip(store.update("garbage", (m) => m))
        assert.instanceOf(error, StorageError)
        const listed = yield* store.list()
        assert.deepStrictEqual(
          listed.volumes.map((v) => v.volumeId),
          ["good"],
        )
        assert.deepStrictEqual(listed.orphans, ["empty", "garbage", "wrong-shape"])
      }),
    ),
  )

  it.live("metadata changed or removed behind the store's back reads as the file is now", () =>
    withStore((root) =>
      Effect.gen(function* () {
        const store = yield* VolumeStore
        const file = path.join(root, "vol-1", "metadata.json")
        yield* store.register(sampleMetadata("vol-1"))
        assert.deepStrictEqual(yield* store.read("vol-1"), Option.some(sampleMetadata("vol-1")))
        // rewritten in place, as another writer would: the store decoded the old text, not this one
        const changed = { ...sampleMetadata("vol-1"), targetPath: "/elsewhere" }
        yield* Effect.promise(() => fs.writeFile(file, JSON.stringify(changed)))
        assert.deepStrictEqual(yield* store.read("vol-1"), Option.some(changed))
        const updated = yield* store.update("vol-1", (m) => ({ ...m, volumeMountGroup: "2000" }))
        assert.deepStrictEqual(updated, { ...changed, volumeMountGroup: "2000" })
        yield* Effect.promise(() => fs.writeFile(file, "{"))
        assert.include((yield* Effect.flip(store.read("vol-1"))).message, "corrupt metadata")
        yield* Effect.promise(() => fs.rm(file))
        assert.isTrue(Option.isNone(yield* store.read("vol-1")))
        const error = yield* Effect.flip(store.update("vol-1", (m) => m))
        assert.strictEqual(error.reason, "volume is not registered")
        yield* Effect.promise(() => fs.writeFile(file, JSON.stringify(updated)))
        assert.deepStrictEqual(yield* store.read("vol-1"), Option.some(updated))
      }),
    ),
  )

  it("metadata.json holds what the schema's encoder writes, key for key and in its order", () => {
    const schemaJson = Schema.encodeSync(Schema.fromJsonString(VolumeMetadataSchema))
    const issuance = {
      nextIssuanceAt: "2026-01-02T00:00:00.000Z",
      notAfter: "2026-01-04T00:00:00.000Z",
      notBefore: "2026-01-01T00:00:00.000Z",
      requestName: "req-1",
    }
    const minimal: VolumeMetadata = {
      // keys in another order than the schema's
      createdAt: "2026-01-01T00:00:00.000Z",
      attributes: { "csi.cert-manager.io/issuer-name": "ca", "a.example/z": "1", "10": "ten" },
      pod: { serviceAccountName: "sa", uid: "u-1", namespace: "ns", name: "pod" },
      targetPath: "/var/lib/kubelet/pods/u-1/volumes/kubernetes.io~csi/vol-1/mount",
      volumeId: "vol-1",
    }
    // as a spread in an update leaves them: the new keys last
    const full: VolumeMetadata = {
      ...minimal,
      podGoneAt: "2026-01-03T00:00:00.000Z",
      pendingRequest: { name: "req-2", namespace: "ns" },
      issuance,
      volumeMountGroup: "2000",
      pod: { ips: ["10.0.0.1", "fd00::1"], ...minimal.pod },
    }
    const { requestName: _, ...adopted } = issuance
    for (const meta of [
      full,
      minimal,
      sampleMetadata("vol-2"),
      { ...minimal, issuance: adopted, pod: { ...minimal.pod, ips: [] } },
    ]) {
      assert.strictEqual(metadataJson(meta), schemaJson(meta))
    }
  })

  it.live("list of a data root that does not exist is empty", () =>
    Effect.gen(function* () {
      const store = VolumeStore.make(path.join(os.tmpdir(), "csi-store-absent-root"))
      assert.deepStrictEqual(yield* store.list(), { volumes: [], orphans: [] })
    }),
  )

  it.live("secrets are 0600 files beside data/, never inside it", () =>
    withStore((root) =>
      Effect.gen(function* () {
        const store = yield* VolumeStore
        yield* store.register(sampleMetadata("vol-1"))
        yield* store.writeFiles("vol-1", [{ name: "tls.crt", data: "cert" }], undefined)
        yield* store.writeSecret("vol-1", "pending-key", Redacted.make("-----BEGIN PRIVATE KEY-----"))
        const file = path.join(root, "vol-1", "pending-key")
        assert.strictEqual(yield* Effect.promise(() => mode(file)), 0o600)
        assert.strictEqual(
          yield* Effect.promise(() => fs.readFile(file, "utf8")),
          "-----BEGIN PRIVATE KEY-----",
        )
        const dataEntries = yield* Effect.promise(() =>
          fs.readdir(path.join(root, "vol-1", "data"), { recursive: true }),
        )
        assert.isFalse(dataEntries.some((entry) => entry.endsWith("pending-key")))
        const read = yield* store.readSecret("vol-1", "pending-key")
        assert.isTrue(Option.isSome(read) && Redacted.isRedacted(read.value))
        assert.strictEqual(Redacted.value(Option.getOrThrow(read)), "-----BEGIN PRIVATE KEY-----")
        // replacing keeps the mode and leaves no temp file
        yield* store.writeSecret("vol-1", "pending-key", Redacted.make("second"))
        assert.strictEqual(yield* Effect.promise(() => mode(file)), 0o600)
        assert.deepStrictEqual((yield* Effect.promise(() => fs.readdir(path.join(root, "vol-1")))).sort(), [
          "data",
          "metadata.json",
          "pending-key",
        ])
        // a refused name never reaches the disk
        const error = yield* Effect.flip(store.writeSecret("vol-1", "../vol-2", Redacted.make("x")))
        assert.strictEqual(error.reason, "invalid secret name")
        yield* store.removeSecret("vol-1", "pending-key")
        assert.isTrue(Option.isNone(yield* store.readSecret("vol-1", "pending-key")))
      }),
    ),
  )

  it.live("a metadata write that fails leaves no temp file behind", () =>
    withStore((root) =>
      Effect.gen(function* () {
        const store = yield* VolumeStore
        yield* store.register(sampleMetadata("vol-1"))
        const dir = path.join(root, "vol-1")
        // a non-empty directory where metadata.json goes makes the final rename fail
        yield* Effect.promise(async () => {
          await fs.rm(path.join(dir, "metadata.json"))
          await fs.mkdir(path.join(dir, "metadata.json"))
          await fs.writeFile(path.join(dir, "metadata.json", "x"), "x")
        })
        const error = yield* Effect.flip(store.register(sampleMetadata("vol-1")))
        assert.instanceOf(error, StorageError)
        assert.strictEqual(error.operation, "register")
        assert.include(error.message, path.join(dir, "metadata.json"))
        assert.deepStrictEqual((yield* Effect.promise(() => fs.readdir(dir))).sort(), [
          "data",
          "metadata.json",
        ])
      }),
    ),
  )

  it.live("writeFiles: modes, user-visible symlinks, stale names removed, previous generation kept", () =>
    withStore(() =>
      Effect.gen(function* () {
        const store = yield* VolumeStore
        yield* store.register(sampleMetadata("vol-1"))
        const dataDir = store.dataDir("vol-1")
        yield* store.writeFiles(
          "vol-1",
          [
            { name: "tls.crt", data: "cert-1" },
            { name: "tls.key", data: "key-1" },
            { name: "ca.crt", data: "ca-1" },
          ],
          undefined,
        )
        const first = yield* assertFileSetLayout(dataDir, ["tls.crt", "tls.key", "ca.crt"])
        assert.strictEqual(
          yield* Effect.promise(() => fs.readFile(path.join(dataDir, "ca.crt"), "utf8")),
          "ca-1",
        )

        yield* store.writeFiles(
          "vol-1",
          [
            { name: "tls.crt", data: "cert-2" },
            { name: "tls.key", data: "key-2" },
          ],
          undefined,
        )
        const second = yield* Effect.promise(() => fs.readlink(path.join(dataDir, "..data")))
        assert.notStrictEqual(second, first)
        const visible = (yield* Effect.promise(() => fs.readdir(dataDir))).filter(
          (name) => !name.startsWith(".."),
        )
        assert.deepStrictEqual(visible.sort(), ["tls.crt", "tls.key"])
        assert.deepStrictEqual(yield* Effect.promise(() => generations(dataDir)), [first, second].sort())

        yield* store.writeFiles("vol-1", [{ name: "tls.crt", data: "cert-3" }], undefined)
        const third = yield* Effect.promise(() => fs.readlink(path.join(dataDir, "..data")))
        // only the new set and the one just replaced remain
        assert.deepStrictEqual(yield* Effect.promise(() => generations(dataDir)), [second, third].sort())
        assert.strictEqual(
          yield* Effect.promise(() => fs.readFile(path.join(dataDir, "tls.crt"), "utf8")),
          "cert-3",
        )
        assert.isTrue(Option.isNone(yield* store.readFile("vol-1", "tls.key")))
        assert.deepStrictEqual(
          (yield* Effect.promise(() => fs.readdir(dataDir))).sort(),
          ["..data", second, third, "tls.crt"].sort(),
        )
        assert.strictEqual(yield* Effect.promise(() => mode(dataDir)), 0o550)
      }),
    ),
  )

  it.live.skipIf(!isRoot)(
    "writeFiles group-owns data/, the generation directory and the files when given",
    () =>
      withStore((root) =>
        Effect.gen(function* () {
          const store = yield* VolumeStore
          yield* store.register(sampleMetadata("vol-1"))
          yield* store.writeFiles("vol-1", [{ name: "tls.crt", data: "cert" }], 2000)
          const dataDir = path.join(root, "vol-1", "data")
          const generation = yield* Effect.promise(() => fs.readlink(path.join(dataDir, "..data")))
          for (const target of [
            dataDir,
            path.join(dataDir, generation),
            path.join(dataDir, generation, "tls.crt"),
          ]) {
            const stat = yield* Effect.promise(() => fs.stat(target))
            assert.strictEqual(stat.gid, 2000, target)
          }
          // the volume directory and metadata stay root-only
          assert.strictEqual(
            (yield* Effect.promise(() => fs.stat(path.join(root, "vol-1")))).mode & 0o777,
            0o700,
          )
        }),
      ),
  )

  describe("data-root liveness check", () => {
    it.live("passes on a writable root and leaves nothing behind", () =>
      withStore((root) =>
        Effect.gen(function* () {
          const health = yield* Health
          yield* health.live
          yield* health.live
          assert.deepStrictEqual(yield* Effect.promise(() => fs.readdir(root)), [])
        }),
      ),
    )

    it.live("fails when the root is removed, and passes again once it is back", () =>
      withStore((root) =>
        Effect.gen(function* () {
          const health = yield* Health
          yield* Effect.promise(() => fs.rm(root, { recursive: true }))
          const error = yield* Effect.flip(health.live)
          assert.strictEqual(error.failures.length, 1)
          assert.match(error.failures[0]!, /^data-root: .*ENOENT/)
          yield* Effect.promise(() => fs.mkdir(root))
          yield* health.live
        }),
      ),
    )

    it.live("fails when the root is replaced by a file", () =>
      withStore((root) =>
        Effect.gen(function* () {
          const health = yield* Health
          yield* Effect.promise(async () => {
            await fs.rm(root, { recursive: true })
            await fs.writeFile(root, "not a directory")
          })
          const error = yield* Effect.flip(health.live)
          assert.match(error.failures[0]!, /^data-root: .*ENOTDIR/)
          yield* Effect.promise(() => fs.rm(root))
        }),
      ),
    )

    it.live.skipIf(isRoot)("fails when the root is read-only (chmod 0500, as non-root)", () =>
      withStore((root) =>
        Effect.gen(function* () {
          const health = yield* Health
          yield* Effect.promise(() => fs.chmod(root, 0o500))
          const error = yield* Effect.flip(health.live)
          assert.match(error.failures[0]!, /^data-root: .*EACCES/)
          yield* Effect.promise(() => fs.chmod(root, 0o700))
          yield* health.live
        }),
      ),
    )
  })
})

describe("MemoryVolumeStore", () => {
  it.live("behaves like the live store for the same scenario", () =>
    Effect.gen(function* () {
      const root = yield* tempRoot
      const corruptOnDisk = (volumeId: string) =>
        Effect.promise(async () => {
          await fs.mkdir(path.join(root, volumeId))
          await fs.writeFile(path.join(root, volumeId, "metadata.json"), "{")
        })
      const live = yield* storeScenario(corruptOnDisk).pipe(Effect.provide(liveStore(root)))
      const memory = yield* Effect.gen(function* () {
        const handle = yield* MemoryVolumeStore
        return yield* storeScenario(handle.corruptMetadata)
      }).pipe(Effect.provide(MemoryVolumeStore.layer))
      assert.deepStrictEqual(memory, live)
      // and the transcript says what it should, not merely the same thing twice
      const steps = new Map(live)
      assert.deepStrictEqual(steps.get("read after set 2"), [{ ok: "cert-2" }, { ok: undefined }])
      assert.deepStrictEqual(steps.get("secret read"), { ok: Option.some("PRIVATE KEY") })
      assert.deepStrictEqual(steps.get("files of unregistered"), {
        error: "StorageError",
        operation: "write",
      })
      assert.deepStrictEqual(steps.get("list"), {
        ok: { volumes: ["vol-a", "vol-b"], orphans: ["vol-c"] },
      })
      assert.deepStrictEqual(steps.get("read corrupt"), { error: "StorageError", operation: "read" })
      assert.deepStrictEqual(steps.get("list after remove"), {
        ok: { volumes: ["vol-b", "vol-c"], orphans: [] },
      })
    }),
  )

  it.effect("lets a test look inside: files, group, generation, secrets", () =>
    Effect.gen(function* () {
      const store = yield* VolumeStore
      const handle = yield* MemoryVolumeStore
      yield* store.register(sampleMetadata("vol-1"))
      yield* store.writeFiles("vol-1", [{ name: "tls.crt", data: "cert" }], 3000)
      yield* store.writeSecret("vol-1", "pending-key", Redacted.make("key"))
      const volume = Option.getOrThrow(yield* handle.inspect("vol-1"))
      assert.strictEqual(volume.generation, 1)
      assert.strictEqual(volume.group, 3000)
      assert.strictEqual(new TextDecoder().decode(volume.files.get("tls.crt")), "cert")
      assert.strictEqual(Redacted.value(volume.secrets.get("pending-key")!), "key")
      assert.deepStrictEqual(volume.metadata, Option.some(sampleMetadata("vol-1")))
      assert.deepStrictEqual(yield* handle.volumeIds, ["vol-1"])
      assert.strictEqual(store.dataDir("vol-1"), "/csi-data-dir/vol-1/data")
    }).pipe(Effect.provide(MemoryVolumeStore.layer)),
  )
})

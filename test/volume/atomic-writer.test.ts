import { existsSync, statfsSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { dataLink, readCurrent, removeTree, writeAtomically } from "../../src/volume/atomic-writer.js"
import { StorageError } from "../../src/volume/errors.js"
import { assertFileSetLayout } from "./store-scenario.js"

const isRoot = process.getuid?.() === 0
const TMPFS_MAGIC = 0x01021994
const shmIsTmpfs = existsSync("/dev/shm") && statfsSync("/dev/shm").type === TMPFS_MAGIC
if (!shmIsTmpfs)
  console.log("atomic-writer.test.ts: /dev/shm is not a tmpfs here; testing on a plain directory only")

/** The writer must work on the driver's tmpfs and on a plain directory alike. */
const places = [
  { name: "a plain directory", parent: os.tmpdir() },
  ...(shmIsTmpfs ? [{ name: "tmpfs (/dev/shm)", parent: "/dev/shm" }] : []),
]

const mode = async (file: string) => (await fs.lstat(file)).mode & 0o7777
const generations = async (dataDir: string) =>
  (await fs.readdir(dataDir))
    .filter((name) => /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.[^.]+$/.test(name))
    .sort()
const current = (dataDir: string) => fs.readlink(path.join(dataDir, dataLink))
const text = (bytes: Option.Option<Uint8Array>) => new TextDecoder().decode(Option.getOrThrow(bytes))

describe.each(places)("writeAtomically on $name", ({ parent }) => {
  /** A fresh volume directory; the writer creates data/ inside it. */
  const volumeDir = Effect.acquireRelease(
    Effect.promise(() => fs.mkdtemp(path.join(parent, "csi-writer-"))),
    (dir) => Effect.ignore(removeTree(dir)),
  )

  it.live("publishes 0440 files in a 0550 generation through ..data and user-visible links", () =>
    Effect.gen(function* () {
      const dataDir = path.join(yield* volumeDir, "data")
      yield* writeAtomically(
        dataDir,
        [
          { name: "tls.crt", data: "cert-1" },
          { name: "tls.key", data: new TextEncoder().encode("key-1") },
          { name: "ca.crt", data: "ca-1" },
        ],
        undefined,
      )
      const first = yield* assertFileSetLayout(dataDir, ["tls.crt", "tls.key", "ca.crt"])
      assert.match(first, /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\./)
      assert.strictEqual(
        yield* Effect.promise(() => fs.readFile(path.join(dataDir, "tls.key"), "utf8")),
        "key-1",
      )
      assert.strictEqual(text(yield* readCurrent(dataDir, "ca.crt")), "ca-1")

      yield* writeAtomically(
        dataDir,
        [
          { name: "tls.crt", data: "cert-2" },
          { name: "bundle.p12", data: "p12" },
        ],
        undefined,
      )
      const second = yield* Effect.promise(() => current(dataDir))
      yield* writeAtomically(dataDir, [{ name: "tls.crt", data: "cert-3" }], undefined)
      const third = yield* Effect.promise(() => current(dataDir))
      // the set just replaced stays for readers that resolved it before the swap; older ones go
      assert.deepStrictEqual(yield* Effect.promise(() => generations(dataDir)), [second, third].sort())
      assert.deepStrictEqual(
        (yield* Effect.promise(() => fs.readdir(dataDir))).sort(),
        ["..data", second, third, "tls.crt"].sort(),
      )
      assert.isTrue(Option.isNone(yield* readCurrent(dataDir, "bundle.p12")))
      assert.strictEqual(
        yield* Effect.promise(() => fs.readFile(path.join(dataDir, "tls.crt"), "utf8")),
        "cert-3",
      )
      assert.strictEqual(yield* Effect.promise(() => mode(dataDir)), 0o550)
    }),
  )

  it.live("carries files of a few hundred KB intact", () =>
    Effect.gen(function* () {
      const dataDir = path.join(yield* volumeDir, "data")
      const big = new Uint8Array(400 * 1024).map((_, i) => (i * 31) % 251)
      yield* writeAtomically(dataDir, [{ name: "bundle.p12", data: big }], undefined)
      assert.deepStrictEqual(Option.getOrThrow(yield* readCurrent(dataDir, "bundle.p12")), big)
    }),
  )

  it.live.skipIf(!isRoot)("group-owns data/, the generation and the files when a group is given", () =>
    Effect.gen(function* () {
      const dataDir = path.join(yield* volumeDir, "data")
      yield* writeAtomically(dataDir, [{ name: "tls.crt", data: "cert" }], 2000)
      const generation = yield* Effect.promise(() => current(dataDir))
      for (const target of [
        dataDir,
        path.join(dataDir, generation),
        path.join(dataDir, generation, "tls.crt"),
      ]) {
        assert.strictEqual((yield* Effect.promise(() => fs.stat(target))).gid, 2000, target)
      }
      assert.strictEqual(yield* Effect.promise(() => mode(path.join(dataDir, generation, "tls.crt"))), 0o440)
    }),
  )

  it.live("refuses bad names before touching the disk, and a set whose parent is missing", () =>
    Effect.gen(function* () {
      const dir = yield* volumeDir
      const dataDir = path.join(dir, "data")
      for (const name of ["", ".", "..", "../escape", "a/b", "..data", "..2026_01_01_00_00_00.x"]) {
        const error = yield* Effect.flip(writeAtomically(dataDir, [{ name, data: "x" }], undefined))
        assert.instanceOf(error, StorageError)
        assert.strictEqual(error.reason, "invalid file name", name)
      }
      const dup = yield* Effect.flip(
        writeAtomically(
          dataDir,
          [
            { name: "a", data: "1" },
            { name: "a", data: "2" },
          ],
          undefined,
        ),
      )
      assert.strictEqual(dup.reason, "duplicate file name")
      assert.deepStrictEqual(yield* Effect.promise(() => fs.readdir(dir)), [])
      const missing = yield* Effect.flip(writeAtomically(path.join(dir, "gone", "data"), [], undefined))
      assert.match(missing.message, /ENOENT/)
      assert.isTrue(Option.isNone(yield* readCurrent(dataDir, "tls.crt")))
    }),
  )

  it.live("a write that fails before the swap leaves the old set readable and data/ sealed", () =>
    Effect.gen(function* () {
      const dataDir = path.join(yield* volumeDir, "data")
      yield* writeAtomically(dataDir, [{ name: "tls.crt", data: "cert-1" }], undefined)
      const before = yield* Effect.promise(() => current(dataDir))
      // a directory where the writer puts its temporary link makes the swap step fail
      yield* Effect.promise(async () => {
        await fs.chmod(dataDir, 0o750)
        await fs.mkdir(path.join(dataDir, "..data_tmp"))
        await fs.writeFile(path.join(dataDir, "..data_tmp", "x"), "x")
      })
      const error = yield* Effect.flip(
        writeAtomically(dataDir, [{ name: "tls.crt", data: "cert-2" }], undefined),
      )
      assert.instanceOf(error, StorageError)
      assert.strictEqual(yield* Effect.promise(() => current(dataDir)), before)
      assert.strictEqual(text(yield* readCurrent(dataDir, "tls.crt")), "cert-1")
      assert.strictEqual(yield* Effect.promise(() => mode(dataDir)), 0o550)
    }),
  )

  it.live("a reader resolving ..data once never sees a mix of two sets across 200 writes", () =>
    Effect.gen(function* () {
      const dataDir = path.join(yield* volumeDir, "data")
      const setOf = (n: number) => [
        { name: "tls.crt", data: `generation=${n}\n${"c".repeat(64 * 1024)}` },
        { name: "tls.key", data: `generation=${n}\n${"k".repeat(16 * 1024)}` },
      ]
      yield* writeAtomically(dataDir, setOf(0), undefined)

      const state = { done: false }
      const reader = async () => {
        const seen = { consistent: 0, mixed: 0, vanished: 0 }
        const marker = (content: string | undefined) => content?.slice(0, content.indexOf("\n"))
        const readOrUndefined = (file: string) => fs.readFile(file, "utf8").catch(() => undefined)
        while (!state.done) {
          const generation = await current(dataDir)
          const crt = await readOrUndefined(path.join(dataDir, generation, "tls.crt"))
          const key = await readOrUndefined(path.join(dataDir, generation, "tls.key"))
          // a reader slower than two whole writes loses its (deleted) generation: not a mix
          if (crt === undefined || key === undefined) seen.vanished++
          else if (marker(crt) !== marker(key)) seen.mixed++
          else seen.consistent++
        }
        return seen
      }
      const readers = yield* Effect.forkChild(
        Effect.promise(() => Promise.all([reader(), reader(), reader(), reader()])),
      )
      for (let n = 1; n <= 200; n++) yield* writeAtomically(dataDir, setOf(n), undefined)
      state.done = true
      const total = (yield* Fiber.join(readers)).reduce(
        (sum, r) => ({
          consistent: sum.consistent + r.consistent,
          mixed: sum.mixed + r.mixed,
          vanished: sum.vanished + r.vanished,
        }),
        { consistent: 0, mixed: 0, vanished: 0 },
      )
      console.log(`concurrent readers on ${parent}:`, total)
      assert.strictEqual(total.mixed, 0)
      assert.isAbove(total.consistent, 200)
      assert.isTrue(text(yield* readCurrent(dataDir, "tls.key")).startsWith("generation=200\n"))
      assert.strictEqual((yield* Effect.promise(() => generations(dataDir))).length, 2)
    }),
  )
})

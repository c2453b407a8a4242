import { once } from "node:events"
import { existsSync, statfsSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Worker } from "node:worker_threads"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
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

interface ReaderCounts {
  readonly consistent: number
  readonly mixed: number
  readonly vanished: number
  /** Distinct generations read consistently. */
  readonly generationsSeen: number
}

/** A reader thread: resolves ..data once per round and reads both files through that generation. */
const readerSource = `
const { readFileSync, readlinkSync } = require("node:fs")
const { join } = require("node:path")
const { parentPort, workerData } = require("node:worker_threads")
const stop = new Int32Array(workerData.stop)
const marker = (content) => content.slice(0, content.indexOf("\\n"))
const readOrUndefined = (file) => {
  try {
    return readFileSync(file, "utf8")
  } catch {
    return undefined
  }
}
const seen = { consistent: 0, mixed: 0, vanished: 0 }
const markers = new Set()
parentPort.postMessage("ready")
while (Atomics.load(stop, 0) === 0) {
  const generation = readlinkSync(join(workerData.dataDir, "..data"))
  const crt = readOrUndefined(join(workerData.dataDir, generation, "tls.crt"))
  const key = readOrUndefined(join(workerData.dataDir, generation, "tls.key"))
  // a reader slower than two whole writes loses its (deleted) generation: not a mix
  if (crt === undefined || key === undefined) seen.vanished++
  else if (marker(crt) !== marker(key)) seen.mixed++
  else {
    seen.consistent++
    markers.add(marker(crt))
  }
}
parentPort.postMessage({ ...seen, generationsSeen: markers.size })
`

/** Starts `count` reader threads on `dataDir` once they all run; `stop` ends them and gives their counts. */
const startReaders = (dataDir: string, count: number) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const flag = new SharedArrayBuffer(4)
      const workers = Array.from(
        { length: count },
        () => new Worker(readerSource, { eval: true, workerData: { dataDir, stop: flag } }),
      )
      const results = workers.map(
        (worker) =>
          new Promise<ReaderCounts>((resolve, reject) => {
            worker.on("message", (message: "ready" | ReaderCounts) => {
              if (message !== "ready") resolve(message)
            })
            worker.on("error", reject)
          }),
      )
      await Promise.all(workers.map((worker) => once(worker, "message")))
      const stop = Effect.promise(() => {
        Atomics.store(new Int32Array(flag), 0, 1)
        return Promise.all(results)
      })
      return { workers, stop }
    }),
    ({ workers }) => Effect.promise(() => Promise.all(workers.map((worker) => worker.terminate()))),
  )

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
      // The step that failed names itself and its path, not the write as a whole.
      assert.strictEqual(error.operation, "link")
      assert.strictEqual(error.path, path.join(dataDir, "..data_tmp"))
      assert.strictEqual(yield* Effect.promise(() => current(dataDir)), before)
      assert.strictEqual(text(yield* readCurrent(dataDir, "tls.crt")), "cert-1")
      assert.strictEqual(yield* Effect.promise(() => mode(dataDir)), 0o550)
    }),
  )

  it.live("a write after a crash takes over the temporary links and wrong names it left", () =>
    Effect.gen(function* () {
      const dataDir = path.join(yield* volumeDir, "data")
      const set = (n: number) => [
        { name: "tls.crt", data: `cert-${n}` },
        { name: "ca.crt", data: `ca-${n}` },
      ]
      yield* writeAtomically(dataDir, set(1), undefined)
      // what a writer killed mid-swap leaves: both temporary links, and a visible name not yet replaced
      yield* Effect.promise(async () => {
        await fs.chmod(dataDir, 0o750)
        await fs.symlink("..data/ca.crt", path.join(dataDir, "..link_tmp"))
        await fs.symlink("..nowhere", path.join(dataDir, "..data_tmp"))
        await fs.rm(path.join(dataDir, "ca.crt"))
        await fs.symlink("elsewhere", path.join(dataDir, "ca.crt"))
      })
      yield* writeAtomically(dataDir, set(2), undefined)
      assert.strictEqual(text(yield* readCurrent(dataDir, "ca.crt")), "ca-2")
      for (const name of ["tls.crt", "ca.crt"]) {
        assert.strictEqual(
          yield* Effect.promise(() => fs.readlink(path.join(dataDir, name))),
          `..data/${name}`,
        )
      }
      const entries = yield* Effect.promise(() => fs.readdir(dataDir))
      assert.notInclude(entries, "..link_tmp")
      assert.notInclude(entries, "..data_tmp")
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

      // the writer is synchronous, so the readers need threads of their own to overlap its writes
      const readers = yield* startReaders(dataDir, 2)
      for (let n = 1; n <= 200; n++) yield* writeAtomically(dataDir, setOf(n), undefined)
      const results = yield* readers.stop
      const total = results.reduce(
        (sum, r) => ({
          consistent: sum.consistent + r.consistent,
          mixed: sum.mixed + r.mixed,
          vanished: sum.vanished + r.vanished,
          generationsSeen: Math.max(sum.generationsSeen, r.generationsSeen),
        }),
        { consistent: 0, mixed: 0, vanished: 0, generationsSeen: 0 },
      )
      console.log(`concurrent readers on ${parent}:`, total)
      assert.strictEqual(total.mixed, 0)
      assert.isAbove(total.consistent, 200)
      // the reads overlapped the writes rather than all landing before or after them
      assert.isAbove(total.generationsSeen, 2)
      assert.isTrue(text(yield* readCurrent(dataDir, "tls.key")).startsWith("generation=200\n"))
      assert.strictEqual((yield* Effect.promise(() => generations(dataDir))).length, 2)
    }),
  )
})

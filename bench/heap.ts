/**
 * Group "heap": V8 heap bytes per idle volume, through the driver's inspector
 * (bench/inspector.ts), which forces full collections and reads the heap in use.
 * The difference between two states of the SAME process with the same code already
 * run and compiled (each baseline follows a publish and unpublish of every path), one
 * with 1,000 idle volumes and one without, divided by 1,000 (budgeted without the
 * bytecode and machine code, which the JIT compiles or flushes between two readings):
 * - live: volumes published by this process;
 * - recovered: volumes this process found on the data root at start.
 * Pods stay registered throughout, so the pod watch's cache is in both states; its
 * cost per pod on the node is read separately, before any volume.
 * BENCH_HEAP_SNAPSHOTS=<dir> also writes a heap snapshot at each state, for
 * `node bench/heap-snapshot.ts` (which objects the difference is made of).
 */
import * as path from "node:path"
import type { Harness } from "../test/e2e/support.js"
import {
  ecdsaAttributes,
  newPods,
  publishInWaves,
  unpublishInWaves,
  waitForLog,
  withHarness,
} from "./cluster.js"
import { type Inspector, withInspector } from "./inspector.js"
import { sleep } from "./measure.js"
import { atMost, type Table } from "./report.js"

const volumes = 1000
const wave = 100
const snapshotDir = process.env.BENCH_HEAP_SNAPSHOTS

interface HeapReading {
  /** Heap in use after full collections, bytes. */
  readonly used: number
  /** Of it, bytecode and machine code with their metadata: what the JIT has compiled so far. */
  readonly code: number
}

/** The heap after full collections, and a snapshot of it when asked for. */
const heapAt = async (inspector: Inspector, label: string): Promise<HeapReading> => {
  const used = await inspector.heapAfterGc()
  const code = await inspector.evaluate<CodeStatistics>(
    `process.getBuiltinModule("node:v8").getHeapCodeStatistics()`,
  )
  if (snapshotDir !== undefined) await inspector.snapshot(path.join(snapshotDir, `${label}.heapsnapshot`))
  return { used, code: code.bytecode_and_metadata_size + code.code_and_metadata_size }
}

interface SpaceStatistics {
  readonly space_name: string
  readonly space_used_size: number
}
interface CodeStatistics {
  readonly bytecode_and_metadata_size: number
  readonly code_and_metadata_size: number
  readonly external_script_source_size: number
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`

/** Where the heap at start is, by V8 space, and how much of it is code. */
const heapComposition = async (inspector: Inspector): Promise<string> => {
  const spaces = await inspector.evaluate<ReadonlyArray<SpaceStatistics>>(
    `process.getBuiltinModule("node:v8").getHeapSpaceStatistics()`,
  )
  const code = await inspector.evaluate<CodeStatistics>(
    `process.getBuiltinModule("node:v8").getHeapCodeStatistics()`,
  )
  const used = spaces
    .filter((space) => space.space_used_size > 0)
    .map((space) => `${space.space_name.replace(/_space$/, "")} ${mib(space.space_used_size)}`)
  return `heap at start by space: ${used.join(", ")}; of it bytecode ${mib(code.bytecode_and_metadata_size)}, machine code ${mib(code.code_and_metadata_size)}; script sources outside the heap ${mib(code.external_script_source_size)}`
}

/** Publishes and unpublishes `count` fresh pods, so every path of a volume is compiled. */
const warmUp = async (h: Harness, prefix: string, count: number) => {
  const pods = await newPods(h, prefix, count)
  await publishInWaves(h, pods, ecdsaAttributes, wave)
  await unpublishInWaves(h, pods, wave)
}

export const heap = (): Promise<Table> =>
  withHarness(async (h) => {
    await sleep(3000)
    const { composition, noPods, withPods, liveBase, live, pods } = await withInspector(
      h.driver,
      async (inspector) => {
        const composition = await heapComposition(inspector)
        const noPods = await heapAt(inspector, "start")
        const pods = await newPods(h, "heap", volumes)
        // The pod watch delivers the new pods within a moment.
        await sleep(2000)
        const withPods = await heapAt(inspector, "pods")
        await publishInWaves(h, pods, ecdsaAttributes, wave)
        await unpublishInWaves(h, pods, wave)
        const liveBase = await heapAt(inspector, "live-0")
        await publishInWaves(h, pods, ecdsaAttributes, wave)
        const live = await heapAt(inspector, "live-1000")
        return { composition, noPods, withPods, liveBase, live, pods }
      },
    )

    await h.restart()
    await waitForLog(h, "recovered volumes", 60_000)
    const { recovered, recoveredBase } = await withInspector(h.driver, async (inspector) => {
      // Enough work for V8 to flush what only start-up ran (its bytecode and feedback vectors,
      // ~1.5 KB a volume here): the reading after unpublishing comes after as much work again.
      await warmUp(h, "heap-warm", 300)
      const recovered = await heapAt(inspector, "recovered-1000")
      await unpublishInWaves(h, pods, wave)
      const recoveredBase = await heapAt(inspector, "recovered-0")
      return { recovered, recoveredBase }
    })

    // Compiled code differs between two states by what the JIT happened to compile or flush
    // (±1-2 KiB a volume over runs); the budget is on the data, code left out.
    const perVolume = (full: HeapReading, empty: HeapReading) => (full.used - empty.used) / volumes
    const dataPerVolume = (full: HeapReading, empty: HeapReading) =>
      (full.used - full.code - (empty.used - empty.code)) / volumes
    return {
      title: `6. Heap per idle volume (V8 heap in use after full GCs, ${volumes} volumes vs none, same process)`,
      figures: [
        {
          name: "heap per idle volume, published live (compiled code left out)",
          value: dataPerVolume(live, liveBase),
          unit: "B",
          budget: atMost(2048, "B"),
        },
        {
          name: "heap per idle volume, recovered after a restart (compiled code left out)",
          value: dataPerVolume(recovered, recoveredBase),
          unit: "B",
          budget: atMost(2048, "B"),
        },
        {
          name: "  the same, all of the heap: live / recovered",
          value: `${perVolume(live, liveBase).toFixed(0)} / ${perVolume(recovered, recoveredBase).toFixed(0)}`,
          unit: "B",
        },
        {
          name: "heap per pod on the node (pod watch cache, no volume)",
          value: dataPerVolume(withPods, noPods),
          unit: "B",
        },
        { name: "heap at start, after GC", value: noPods.used / 2 ** 20, unit: "MiB" },
        {
          name: `heap with ${volumes} live volumes / none`,
          value: `${mib(live.used)} / ${mib(liveBase.used)}`,
        },
        {
          name: `heap with ${volumes} recovered volumes / none`,
          value: `${mib(recovered.used)} / ${mib(recoveredBase.used)}`,
        },
      ],
      notes: [composition, ...(snapshotDir === undefined ? [] : [`heap snapshots in ${snapshotDir}`])],
    }
  })

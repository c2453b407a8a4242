/**
 * Measuring helpers: percentiles of a sample, and a process's memory and CPU time
 * read from /proc/<pid>/status and each thread's schedstat.
 */

import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import type { Figure } from "./report.js"

export interface Summary {
  readonly count: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

/** Nearest-rank percentile of an ascending sample. */
const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN

export const summarize = (samples: ReadonlyArray<number>): Summary => {
  const sorted = [...samples].sort((a, b) => a - b)
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    mean: sorted.reduce((sum, x) => sum + x, 0) / Math.max(1, sorted.length),
  }
}

export interface Memory {
  /** Peak resident set (VmHWM), MiB. */
  readonly peakMiB: number
  /** Current resident set (VmRSS), MiB. */
  readonly rssMiB: number
}

const kibField = (status: string, field: string): number => {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)
  return match === null ? Number.NaN : Number(match[1]) / 1024
}

export const memoryOf = (pid: number): Memory => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  return { peakMiB: kibField(status, "VmHWM"), rssMiB: kibField(status, "VmRSS") }
}

/** Starts VmHWM over from the current RSS (Linux: 5 to /proc/<pid>/clear_refs), so the next peak is a stage's own. */
export const resetPeak = (pid: number): void => writeFileSync(`/proc/${pid}/clear_refs`, "5")

/** Resident memory by what backs it, MiB, from /proc/<pid>/smaps. */
export interface ResidentByKind {
  /** Pages of the node executable and shared libraries: code and read-only data, shared and clean. */
  readonly files: number
  /** malloc's main heap (brk): with one arena, nearly all of malloc, freed-but-kept chunks included. */
  readonly brk: number
  /** Anonymous mappings: V8's heap pages, thread stacks, malloc's large (mmap) blocks. */
  readonly anonymous: number
}

export const residentByKind = (pid: number): ResidentByKind => {
  const sums = { files: 0, brk: 0, anonymous: 0, other: 0 }
  let kind: keyof typeof sums = "other"
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line)
    if (mapping !== null) {
      const name = mapping[1] ?? ""
      kind = name === "" ? "anonymous" : name === "[heap]" ? "brk" : name.startsWith("/") ? "files" : "other"
      continue
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss !== null) sums[kind] += Number(rss[1]) / 1024
  }
  return { files: sums.files, brk: sums.brk, anonymous: sums.anonymous + sums.other }
}

/** A table row of `residentByKind`. */
export const residentRow = (label: string, memory: ResidentByKind): Figure => ({
  name: `${label}: files / malloc heap (brk) / anonymous`,
  value: `${memory.files.toFixed(1)} / ${memory.brk.toFixed(1)} / ${memory.anonymous.toFixed(1)}`,
  unit: "MiB",
})

/**
 * CPU time the process's threads have run so far, ms, from the scheduler's own
 * nanosecond counts (/proc/<pid>/task/<tid>/schedstat). utime + stime in /proc/<pid>/stat
 * come in 10 ms clock ticks charged to whichever thread runs when the tick fires: a
 * thread that wakes on timers for ~7 ms in 10 s was measured charged 0 to 90 ms.
 * Threads that have exited are not counted; the driver's threads live as long as it.
 */
export const cpuTimeMs = (pid: number): number =>
  readdirSync(`/proc/${pid}/task`).reduce((total, tid) => total + threadRanMs(pid, tid), 0)

/**
 * The same, split by the kind of thread, as the kernel names them: Node's main thread,
 * libuv's pool (file calls, key generation), V8's workers (background compiles, GC), and
 * the rest under "other".
 */
export const cpuByThreadKind = (pid: number): ReadonlyMap<ThreadKind, number> => {
  const byKind = new Map<ThreadKind, number>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const kind = threadKind(readOr(`/proc/${pid}/task/${tid}/comm`, "").trim())
    byKind.set(kind, (byKind.get(kind) ?? 0) + threadRanMs(pid, tid))
  }
  return byKind
}

export const threadKinds = ["main thread", "libuv pool", "V8 workers", "other"] as const
export type ThreadKind = (typeof threadKinds)[number]

const threadKind = (comm: string): ThreadKind =>
  comm === "MainThread" || comm === "node"
    ? "main thread"
    : comm.startsWith("libuv-worker")
      ? "libuv pool"
      : comm.startsWith("V8Worker")
        ? "V8 workers"
        : "other"

const readOr = (path: string, fallback: string): string => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return fallback
  }
}

/** 0 for a thread that exited since its directory was listed. */
const threadRanMs = (pid: number, tid: string): number =>
  Number(readOr(`/proc/${pid}/task/${tid}/schedstat`, "0").split(" ")[0]) / 1e6

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export interface CpuPerCall {
  /** The driver process's user + system CPU per call, ms. */
  readonly driverMs: number
  /** The same, by kind of driver thread. */
  readonly driverByThread: ReadonlyMap<ThreadKind, number>
  /** This process's CPU per call (the sandbox API server and issuer, and the kubelet stand-in), ms. */
  readonly benchMs: number
}

/** Starts counting CPU time of the driver and of this process; `perCall(n)` divides what was used since by n. */
export const cpuMeter = (pid: number) => {
  const driverBefore = cpuByThreadKind(pid)
  const benchBefore = process.cpuUsage()
  return {
    perCall: (calls: number): CpuPerCall => {
      const bench = process.cpuUsage(benchBefore)
      const driverAfter = cpuByThreadKind(pid)
      const driverByThread = new Map(
        threadKinds.map((kind) => [
          kind,
          ((driverAfter.get(kind) ?? 0) - (driverBefore.get(kind) ?? 0)) / calls,
        ]),
      )
      let driverMs = 0
      for (const ms of driverByThread.values()) driverMs += ms
      return { driverMs, driverByThread, benchMs: (bench.user + bench.system) / 1000 / calls }
    },
  }
}

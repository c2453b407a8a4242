/**
 * Group "ab": two builds side by side in one run, so a change is measured as a ratio
 * and not as two absolute figures from different moments of a noisy machine. Each
 * build runs in its own harness (sandbox, mount namespace, kubelet stand-in); rounds
 * alternate between them (A then B, then B then A, ...) and each round publishes and
 * then unpublishes a batch of ECDSA volumes one at a time, counting the driver's CPU
 * over each half. The client-side API rate limit is lifted so neither waits on it.
 *
 * BENCH_AB_A is the baseline's main.js (e.g. /work/main/dist/main.js), BENCH_AB_B the
 * candidate's (this checkout's dist/main.js unless set); BENCH_AB_ROUNDS and
 * BENCH_AB_BATCH size the run. BENCH_AB_IDLE=N first publishes N volumes on each side
 * that stay for the whole run, as on a busy node: without them the rounds hold a
 * handful of volumes, and a cost that grows with the node's volumes does not show.
 */
import * as path from "node:path"
import { type Harness, startHarness } from "../test/e2e/support.js"
import { mainJs } from "../test/support/driver-process.js"
import { deletePods, ecdsaAttributes, newPods, publishInWaves, publishTimed } from "./cluster.js"
import { cpuTimeMs, sleep, summarize } from "./measure.js"
import type { Figure, Table } from "./report.js"

const rounds = Number(process.env.BENCH_AB_ROUNDS ?? 30)
const batch = Number(process.env.BENCH_AB_BATCH ?? 10)
const warmUp = 40
/** Lets the pod watch events of a batch's set-up or clean-up land outside the measured window. */
const settleMs = 300

const args = [
  "--log-level=info",
  "--metrics-bind-address=127.0.0.1:0",
  "--kube-api-qps=100000",
  "--kube-api-burst=100000",
]

interface Side {
  readonly label: string
  readonly main: string
  readonly h: Harness
  readonly latencies: Array<number>
  /** Per round: driver CPU per publish and per unpublish, and this process's (sandbox + kubelet) per publish, ms. */
  readonly publishCpu: Array<number>
  readonly unpublishCpu: Array<number>
  readonly benchCpu: Array<number>
  round: number
}

const benchMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since)
  return (used.user + used.system) / 1000
}

/** One batch on one side: publish `count` volumes, then unpublish them; returns the CPU figures. */
const runBatch = async (side: Side, count: number) => {
  const { h } = side
  const pods = await newPods(h, `ab-${side.round++}`, count)
  await sleep(settleMs)
  const pid = h.driver.pid
  const driverBefore = cpuTimeMs(pid)
  const benchBefore = process.cpuUsage()
  const latencies: Array<number> = []
  for (const pod of pods) latencies.push(await publishTimed(h, pod, ecdsaAttributes))
  const published = cpuTimeMs(pid)
  const bench = benchMs(benchBefore)
  for (const pod of pods) {
    const request = h.kubelet.publishRequest(pod, {})
    const result = await h.kubelet.unpublish(request.volume_id, request.target_path)
    if (!result.ok) throw new Error(`NodeUnpublishVolume of ${pod.name}: ${result.details}`)
  }
  const unpublished = cpuTimeMs(pid)
  await deletePods(h, pods)
  await sleep(settleMs)
  return {
    latencies,
    publishMs: (published - driverBefore) / count,
    unpublishMs: (unpublished - published) / count,
    benchMs: bench / count,
  }
}

const median = (values: ReadonlyArray<number>) => summarize(values).p50

const start = async (label: string, main: string): Promise<Side> => ({
  label,
  main,
  h: await startHarness({ args, main }),
  latencies: [],
  publishCpu: [],
  unpublishCpu: [],
  benchCpu: [],
  round: 0,
})

const figuresOf = (side: Side): ReadonlyArray<Figure> => {
  const latency = summarize(side.latencies)
  return [
    {
      name: `${side.label}: driver CPU per publish (median of rounds)`,
      value: median(side.publishCpu),
      unit: "ms",
    },
    {
      name: `${side.label}: driver CPU per unpublish (median of rounds)`,
      value: median(side.unpublishCpu),
      unit: "ms",
    },
    {
      name: `${side.label}: sandbox+kubelet CPU per publish (median of rounds)`,
      value: median(side.benchCpu),
      unit: "ms",
    },
    {
      name: `${side.label}: driver CPU / sandbox+kubelet CPU`,
      value: median(side.publishCpu) / median(side.benchCpu),
    },
    {
      name: `${side.label}: publish p50 / p99`,
      value: `${latency.p50.toFixed(1)} / ${latency.p99.toFixed(1)}`,
      unit: "ms",
    },
  ]
}

/** B's figure over A's, per round (the rounds ran side by side), as the median of those ratios. */
const ratio = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
  median(b.map((value, i) => value / (a[i] ?? Number.NaN)))

export const ab = async (): Promise<Table> => {
  const mainA = process.env.BENCH_AB_A
  if (mainA === undefined)
    throw new Error("set BENCH_AB_A to the baseline's main.js (and BENCH_AB_B, else this checkout's)")
  const mainB = process.env.BENCH_AB_B ?? mainJs
  const a = await start("A", path.resolve(mainA))
  const b = await start("B", path.resolve(mainB)).catch(async (error: unknown) => {
    await a.h.close()
    throw error
  })
  try {
    for (const side of [a, b]) await runBatch(side, warmUp)
    const idle = Number(process.env.BENCH_AB_IDLE ?? 0)
    for (const side of idle > 0 ? [a, b] : []) {
      await publishInWaves(side.h, await newPods(side.h, "idle", idle), ecdsaAttributes, 50)
    }
    if (idle > 0) await sleep(2000)
    for (let round = 0; round < rounds; round++) {
      for (const side of round % 2 === 0 ? [a, b] : [b, a]) {
        const result = await runBatch(side, batch)
        side.latencies.push(...result.latencies)
        side.publishCpu.push(result.publishMs)
        side.unpublishCpu.push(result.unpublishMs)
        side.benchCpu.push(result.benchMs)
      }
    }
  } finally {
    await Promise.all([a.h.close(), b.h.close()])
  }
  return {
    title: `A/B: ${rounds} interleaved rounds of ${batch} sequential ECDSA publishes then unpublishes per build`,
    figures: [
      ...figuresOf(a),
      ...figuresOf(b),
      {
        name: "B / A driver CPU per publish (median of per-round ratios)",
        value: ratio(a.publishCpu, b.publishCpu),
      },
      {
        name: "B / A driver CPU per unpublish (median of per-round ratios)",
        value: ratio(a.unpublishCpu, b.unpublishCpu),
      },
      {
        name: "B / A of (driver CPU / sandbox+kubelet CPU) per publish, per round: load-normalised",
        value: median(
          b.publishCpu.map(
            (value, i) =>
              value /
              (b.benchCpu[i] ?? Number.NaN) /
              ((a.publishCpu[i] ?? Number.NaN) / (a.benchCpu[i] ?? Number.NaN)),
          ),
        ),
      },
      {
        name: "B / A publish p50",
        value: summarize(b.latencies).p50 / summarize(a.latencies).p50,
      },
    ],
    notes: [`A = ${a.main}`, `B = ${b.main}`],
  }
}

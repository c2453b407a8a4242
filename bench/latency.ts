/**
 * Group 1: publish latency end to end — one NodePublishVolume at a time, from the
 * call to its OK (key, CSR, CertificateRequest, issuer, files, mounts), for ECDSA P-256
 * (the driver's first publishes after a few warm-up ones, and again once it is warm) and
 * for the default RSA-2048; and the driver's CPU per publish, by kind of thread, against
 * what the sandbox and the kubelet stand-in spent on it.
 * BENCH_CPU_PROFILE=<file> writes a CPU profile of the driver's warm ECDSA publishes
 * (`node bench/cpu-profile.ts <file> 100` reads it); the figures then include the
 * profiler's own cost. BENCH_HEAP_PROFILE=<file> writes a sampling profile of what they
 * allocate instead, which the same script reads; with BENCH_HEAP_SURVIVORS=1, only what
 * outlives a scavenge (what makes the old generation grow). BENCH_PERF=<file> records them with
 * Linux perf (every thread, kernel included; with BENCH_PERF_CALLS=1, call graphs too;
 * bench/perf.ts says how to read it). BENCH_LATENCY_SAMPLES=<n> takes n ECDSA samples
 * instead of 100, for a longer profile (past ~100 the rate limit spaces them out).
 */
import type { Harness } from "../test/e2e/support.js"
import {
  ecdsaAttributes,
  newPods,
  publishInWaves,
  publishTimed,
  rsaAttributes,
  unpublishInWaves,
  withHarness,
} from "./cluster.js"
import { withInspector } from "./inspector.js"
import { type CpuPerCall, cpuMeter, sleep, summarize, threadKinds } from "./measure.js"
import { withPerf } from "./perf.js"
import { atMost, type Budget, type Figure, type Table } from "./report.js"

const warmUp = 5
const ecdsaSamples = Number(process.env.BENCH_LATENCY_SAMPLES ?? 100)
const rsaSamples = 30
/**
 * Publishes (each unpublished again) between the first samples and the warm ones. V8
 * compiles its way through a node's first few hundred publishes: ~120 Maglev compiles on
 * its worker threads fall in the first 100 samples, ~1.4 ms of CPU per publish there. A
 * node that runs for weeks pays that once; the warm samples show what each publish costs.
 */
const warmPublishes = 300
const warmWave = 10
const refill = 2_500

const sequential = async (h: Harness, prefix: string, attributes: Record<string, string>, count: number) => {
  const pods = await newPods(h, prefix, count)
  const samples: Array<number> = []
  const meter = cpuMeter(h.driver.pid)
  for (const pod of pods) samples.push(await publishTimed(h, pod, attributes))
  return { ...summarize(samples), cpu: meter.perCall(count), pods }
}

const rows = (
  label: string,
  summary: ReturnType<typeof summarize> & { readonly cpu: CpuPerCall },
  budgets: { p50?: Budget; p99?: Budget; cpuRatio?: Budget },
): ReadonlyArray<Figure> => [
  { name: `${label} p50`, value: summary.p50, unit: "ms", ...(budgets.p50 ? { budget: budgets.p50 } : {}) },
  { name: `${label} p99`, value: summary.p99, unit: "ms", ...(budgets.p99 ? { budget: budgets.p99 } : {}) },
  { name: `${label} max`, value: summary.max, unit: "ms" },
  { name: `${label} mean`, value: summary.mean, unit: "ms" },
  { name: `${label} driver CPU per publish`, value: summary.cpu.driverMs, unit: "ms" },
  {
    name: `${label} of it: ${threadKinds.join(" / ")}`,
    value: threadKinds.map((kind) => (summary.cpu.driverByThread.get(kind) ?? 0).toFixed(2)).join(" / "),
    unit: "ms",
  },
  { name: `${label} sandbox+kubelet CPU per publish`, value: summary.cpu.benchMs, unit: "ms" },
  {
    name: `${label} driver CPU / sandbox+kubelet CPU`,
    value: summary.cpu.driverMs / summary.cpu.benchMs,
    ...(budgets.cpuRatio ? { budget: budgets.cpuRatio } : {}),
  },
]

/** `measure`, under the profiler the environment asks for, if any (see the header). */
const profiled = <A>(h: Harness, measure: () => Promise<A>): Promise<A> => {
  const env = process.env
  if (env.BENCH_PERF !== undefined)
    return withPerf(h.driver.pid, env.BENCH_PERF, measure, { callGraphs: env.BENCH_PERF_CALLS === "1" })
  const cpuProfile = env.BENCH_CPU_PROFILE
  if (cpuProfile !== undefined)
    return withInspector(h.driver, (inspector) => inspector.profile(cpuProfile, measure))
  const heapProfile = env.BENCH_HEAP_PROFILE
  if (heapProfile !== undefined)
    return withInspector(h.driver, (inspector) =>
      inspector.allocations(heapProfile, measure, env.BENCH_HEAP_SURVIVORS === "1"),
    )
  return measure()
}

export const latency = (): Promise<Table> =>
  withHarness(async (h) => {
    await sequential(h, "warm-ecdsa", ecdsaAttributes, warmUp)
    await sequential(h, "warm-rsa", rsaAttributes, 2)
    const first = await sequential(h, "first-ecdsa", ecdsaAttributes, ecdsaSamples)
    // The node goes back to the few volumes it held before the first samples.
    await unpublishInWaves(h, first.pods, warmWave)
    const warming = await newPods(h, "warming", warmPublishes)
    await publishInWaves(h, warming, ecdsaAttributes, warmWave)
    await unpublishInWaves(h, warming, warmWave)
    // Those calls spent the driver's client-side rate limit (--kube-api-burst 100 at
    // --kube-api-qps 50); the first samples started with it full, and so do these.
    await sleep(refill)
    const measure = () => sequential(h, "ecdsa", ecdsaAttributes, ecdsaSamples)
    const ecdsa = await profiled(h, measure)
    const rsa = await sequential(h, "rsa", rsaAttributes, rsaSamples)
    return {
      title: `1. Publish latency, sequential (${ecdsa.count} ECDSA P-256 samples as the driver's first publishes and again after ${warmPublishes} more, ${rsa.count} RSA-2048)`,
      figures: [
        ...rows("ECDSA P-256, first", first, { p50: atMost(15, "ms"), p99: atMost(50, "ms") }),
        ...rows("ECDSA P-256", ecdsa, { p50: atMost(15, "ms"), p99: atMost(50, "ms"), cpuRatio: atMost(1) }),
        ...rows("RSA-2048", rsa, {}),
      ],
    }
  })

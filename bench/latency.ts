/**
 * Group 1: publish latency end to end — one NodePublishVolume at a time, from the
 * call to its OK (key, CSR, CertificateRequest, issuer, files, mounts), after a few
 * warm-up publishes, for ECDSA P-256 and for the default RSA-2048; and the driver's
 * CPU per publish against what the sandbox and the kubelet stand-in spent on it.
 * BENCH_CPU_PROFILE=<file> writes a CPU profile of the driver's ECDSA publishes
 * (`node bench/cpu-profile.ts <file> 100` reads it); the figures then include the
 * profiler's own cost.
 */
import type { Harness } from "../test/e2e/support.js"
import { ecdsaAttributes, newPods, publishTimed, rsaAttributes, withHarness } from "./cluster.js"
import { withInspector } from "./inspector.js"
import { type CpuPerCall, cpuMeter, summarize } from "./measure.js"
import { atMost, type Budget, type Figure, type Table } from "./report.js"

const warmUp = 5
const ecdsaSamples = 100
const rsaSamples = 30

const sequential = async (h: Harness, prefix: string, attributes: Record<string, string>, count: number) => {
  const pods = await newPods(h, prefix, count)
  const samples: Array<number> = []
  const meter = cpuMeter(h.driver.pid)
  for (const pod of pods) samples.push(await publishTimed(h, pod, attributes))
  return { ...summarize(samples), cpu: meter.perCall(count) }
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
  { name: `${label} sandbox+kubelet CPU per publish`, value: summary.cpu.benchMs, unit: "ms" },
  {
    name: `${label} driver CPU / sandbox+kubelet CPU`,
    value: summary.cpu.driverMs / summary.cpu.benchMs,
    ...(budgets.cpuRatio ? { budget: budgets.cpuRatio } : {}),
  },
]

export const latency = (): Promise<Table> =>
  withHarness(async (h) => {
    await sequential(h, "warm-ecdsa", ecdsaAttributes, warmUp)
    await sequential(h, "warm-rsa", rsaAttributes, 2)
    const profileFile = process.env.BENCH_CPU_PROFILE
    const measure = () => sequential(h, "ecdsa", ecdsaAttributes, ecdsaSamples)
    const ecdsa =
      profileFile === undefined
        ? await measure()
        : await withInspector(h.driver, (inspector) => inspector.profile(profileFile, measure))
    const rsa = await sequential(h, "rsa", rsaAttributes, rsaSamples)
    return {
      title: `1. Publish latency, sequential (${ecdsa.count} ECDSA P-256, ${rsa.count} RSA-2048 samples after warm-up)`,
      figures: [
        ...rows("ECDSA P-256", ecdsa, { p50: atMost(15, "ms"), p99: atMost(50, "ms"), cpuRatio: atMost(1) }),
        ...rows("RSA-2048", rsa, {}),
      ],
    }
  })

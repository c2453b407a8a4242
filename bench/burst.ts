/**
 * Group 2: a full node's worth of pods at once — 110 concurrent ECDSA publishes of
 * distinct pods on a driver at rest: wall time, the driver's peak RSS during the burst
 * (VmHWM reset just before) and its RSS after it, API requests
 * per issuance from the sandbox's counters, and the watch connections open meanwhile.
 */
import { Duration } from "effect"
import { quietAfter } from "../src/observability/housekeeping.js"
import { ecdsaAttributes, newPods, publishTimed, withHarness } from "./cluster.js"
import { cpuMeter, memoryOf, resetPeak, residentByKind, residentRow, sleep, summarize } from "./measure.js"
import { atMost, exactly, type Table } from "./report.js"

const pods = 110

export const burst = (): Promise<Table> =>
  withHarness(async (h) => {
    // A node's pods land on a driver that has been up a while: at rest, start-up's own peak behind it.
    await sleep(Duration.toMillis(quietAfter) + 5000)
    const startPeak = memoryOf(h.driver.pid).peakMiB
    resetPeak(h.driver.pid)
    const before = memoryOf(h.driver.pid)
    const beforeKinds = residentByKind(h.driver.pid)
    const batch = await newPods(h, "burst", pods)
    await h.sandbox.resetStats()
    // Sample the open watches while the burst runs.
    let running = true
    let minWatches = Number.POSITIVE_INFINITY
    let maxWatches = 0
    const sampler = (async () => {
      while (running) {
        const { openWatches } = await h.sandbox.stats()
        minWatches = Math.min(minWatches, openWatches)
        maxWatches = Math.max(maxWatches, openWatches)
        await sleep(5)
      }
    })()
    const meter = cpuMeter(h.driver.pid)
    const started = performance.now()
    const latencies = await Promise.all(batch.map((pod) => publishTimed(h, pod, ecdsaAttributes)))
    const wall = performance.now() - started
    running = false
    const cpu = meter.perCall(pods)
    await sampler
    const stats = await h.sandbox.stats()
    const after = memoryOf(h.driver.pid)
    const afterKinds = residentByKind(h.driver.pid)
    const perCall = summarize(latencies)
    return {
      title: `2. Burst: ${pods} concurrent ECDSA publishes of distinct pods`,
      figures: [
        { name: "wall time", value: wall, unit: "ms", budget: atMost(3000, "ms") },
        {
          name: "per-call p50 / max",
          value: `${perCall.p50.toFixed(0)} / ${perCall.max.toFixed(0)}`,
          unit: "ms",
        },
        { name: "driver CPU per publish", value: cpu.driverMs, unit: "ms" },
        { name: "sandbox+kubelet CPU per publish", value: cpu.benchMs, unit: "ms" },
        { name: "driver CPU / sandbox+kubelet CPU", value: cpu.driverMs / cpu.benchMs },
        {
          name: "driver VmHWM during the burst (peak RSS)",
          value: after.peakMiB,
          unit: "MiB",
          budget: atMost(110, "MiB"),
        },
        { name: "driver VmRSS after", value: after.rssMiB, unit: "MiB", budget: atMost(150, "MiB") },
        { name: "driver VmRSS before (at rest)", value: before.rssMiB, unit: "MiB" },
        residentRow("  before", beforeKinds),
        residentRow("  after", afterKinds),
        { name: "driver VmHWM during start-up", value: startPeak, unit: "MiB" },
        { name: "API writes per issuance", value: stats.writes / pods, budget: atMost(3) },
        { name: "API requests per issuance", value: stats.requestsTotal / pods },
        // One for the node's CertificateRequests, one for its pods.
        { name: "watch connections open, max during burst", value: maxWatches, budget: exactly(2) },
        { name: "watch connections open, min during burst", value: minWatches, budget: exactly(2) },
        {
          name: "watch connections used (open at start + opened)",
          value: stats.watchesOpened,
          budget: exactly(2),
        },
        { name: "API connections, max open at once (watch included)", value: stats.maxOpenConnections },
        { name: "API connections opened during the burst", value: stats.connectionsOpened },
      ],
      notes: [`requests by resource and verb: ${JSON.stringify(stats.requests)}`],
    }
  })

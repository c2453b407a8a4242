/**
 * Groups 3 and 4: a node with 1,000 issued volumes. Group 3 restarts the driver
 * (SIGTERM, then a new process on the same directories and mount namespace) and
 * times it until every renewal is scheduled again; group 4 then leaves it idle and
 * reads its memory and the CPU time it spends doing nothing.
 */
import { Duration } from "effect"
import { quietAfter } from "../src/observability/housekeeping.js"
import type { Harness } from "../test/e2e/support.js"
import { annotation, ecdsaAttributes, newPods, publishTimed, waitForLog, withHarness } from "./cluster.js"
import { cpuTimeMs, memoryOf, sleep } from "./measure.js"
import { atMost, exactly, type Table } from "./report.js"

const volumes = 1000
const batchSize = 50
const idleWindowMs = 10_000

const publishMany = async (h: Harness) => {
  const started = performance.now()
  for (let first = 0; first < volumes; first += batchSize) {
    const pods = await newPods(h, `vol${first}`, Math.min(batchSize, volumes - first))
    await Promise.all(pods.map((pod) => publishTimed(h, pod, ecdsaAttributes)))
  }
  return performance.now() - started
}

const restart = async (h: Harness): Promise<Table> => {
  await h.driver.stop("SIGTERM")
  await h.sandbox.resetStats()
  const spawned = Date.now()
  await h.restart()
  const listening = Date.now() - spawned
  const recovered = await waitForLog(h, "recovered volumes", 60_000)
  const stats = await h.sandbox.stats()
  const creates = stats.requests.certificaterequests?.create ?? 0
  return {
    title: `3. Restart recovery of ${volumes} issued volumes`,
    figures: [
      {
        name: "spawn → all renewals scheduled (log line)",
        value: Date.parse(recovered.timestamp) - spawned,
        unit: "ms",
        budget: atMost(2000, "ms"),
      },
      {
        name: "recovery's own durationMs",
        value: annotation(recovered, "durationMs"),
        unit: "ms",
        budget: atMost(1000, "ms"),
      },
      { name: "spawn → gRPC socket accepts", value: listening, unit: "ms" },
      { name: "volumes recovered", value: annotation(recovered, "volumes"), budget: exactly(volumes) },
      { name: "CertificateRequests created on restart", value: creates, budget: exactly(0) },
    ],
    notes: [`API requests until then: ${JSON.stringify(stats.requests)}`],
  }
}

const idle = async (h: Harness): Promise<Table> => {
  // Let the collector finish with what recovery left behind, and the driver give it back
  // (observability/housekeeping.ts): the steady state of a quiet node is what is measured.
  await sleep(Duration.toMillis(quietAfter) + 2000)
  await h.sandbox.resetStats()
  const pid = h.driver.pid
  const cpuBefore = cpuTimeMs(pid)
  const started = performance.now()
  await sleep(idleWindowMs)
  const cpu = cpuTimeMs(pid) - cpuBefore
  const seconds = (performance.now() - started) / 1000
  const memory = memoryOf(pid)
  const stats = await h.sandbox.stats()
  return {
    title: `4. Idle with ${volumes} renewals scheduled (${seconds.toFixed(1)} s window)`,
    figures: [
      { name: "driver VmRSS", value: memory.rssMiB, unit: "MiB", budget: atMost(120, "MiB") },
      { name: "driver VmHWM (peak since restart)", value: memory.peakMiB, unit: "MiB" },
      {
        name: "idle CPU (all threads, scheduler time)",
        value: cpu / seconds,
        unit: "ms/s",
        budget: atMost(1, "ms/s"),
      },
      { name: "API requests while idle", value: stats.requestsTotal },
    ],
  }
}

export const recovery = (): Promise<ReadonlyArray<Table>> =>
  withHarness(async (h) => {
    const publishing = await publishMany(h)
    console.log(
      `  (published ${volumes} volumes in ${(publishing / 1000).toFixed(1)} s, batches of ${batchSize})`,
    )
    const restarted = await restart(h)
    return [restarted, await idle(h)]
  })

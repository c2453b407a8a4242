/**
 * Group "footprint": the driver's resident memory over a node's life, on one process.
 * At start (up, no volume); then 1,000 volumes published live in waves of 100
 * concurrent publishes against `slow-issuer` (it signs after 5 s, so a whole wave is
 * in flight at once: the case that used to leave the most memory behind); idle with
 * those 1,000; and again once they are all unpublished and their pods deleted, after a wait of a minute
 * (BENCH_RELEASE_WAIT_MS shortens it for quick runs; the table says which was used).
 */
import { Duration } from "effect"
import { quietAfter } from "../src/observability/housekeeping.js"
import {
  deletePods,
  ecdsaAttributes,
  newPods,
  publishInWaves,
  unpublishInWaves,
  withHarness,
} from "./cluster.js"
import { cpuMeter, memoryOf, residentByKind, residentRow, sleep } from "./measure.js"
import { atMost, type Table } from "./report.js"

const volumes = 1000
const wave = 100
/** Start-up is done (both informers listed, recovery of nothing) well within this. */
const settleMs = 3000
/** …and the driver has given back what start-up left (observability/housekeeping.ts) within this. */
const restMs = Duration.toMillis(quietAfter) + 5000
const idleMs = 10_000
const releaseWaitMs = Number(process.env.BENCH_RELEASE_WAIT_MS ?? 60_000)

const slowAttributes = { ...ecdsaAttributes, "csi.cert-manager.io/issuer-name": "slow-issuer" }

export const footprint = (): Promise<Table> =>
  withHarness(async (h) => {
    const pid = h.driver.pid
    await sleep(settleMs)
    const started3s = memoryOf(pid)
    await sleep(restMs - settleMs)
    const start = memoryOf(pid)
    const startKinds = residentByKind(pid)
    const pods = await newPods(h, "wave", volumes)
    const meter = cpuMeter(pid)
    const wavesStarted = performance.now()
    await publishInWaves(h, pods, slowAttributes, wave)
    const publishing = performance.now() - wavesStarted
    const cpu = meter.perCall(volumes)
    const peak = memoryOf(pid).peakMiB
    await sleep(idleMs)
    const idle = memoryOf(pid)
    const idleKinds = residentByKind(pid)
    await unpublishInWaves(h, pods, wave)
    await deletePods(h, pods)
    const unpublished = memoryOf(pid)
    await sleep(releaseWaitMs)
    const released = memoryOf(pid)
    const releasedKinds = residentByKind(pid)
    const waitLabel =
      releaseWaitMs === 60_000 ? "a minute" : `${(releaseWaitMs / 1000).toFixed(0)} s (BENCH_RELEASE_WAIT_MS)`
    return {
      title: `5. Footprint: start, ${volumes} volumes published live (${volumes / wave} waves of ${wave} concurrent publishes, slow-issuer), all unpublished`,
      figures: [
        { name: `driver VmRSS ${settleMs / 1000} s after start`, value: started3s.rssMiB, unit: "MiB" },
        {
          name: `driver VmRSS at start, at rest (${restMs / 1000} s, no volume)`,
          value: start.rssMiB,
          unit: "MiB",
          budget: atMost(90, "MiB"),
        },
        residentRow("  at start", startKinds),
        { name: "driver VmHWM (peak) while the waves ran", value: peak, unit: "MiB" },
        {
          name: `driver VmRSS idle with ${volumes} live volumes`,
          value: idle.rssMiB,
          unit: "MiB",
          budget: atMost(120, "MiB"),
        },
        residentRow(`  idle with ${volumes}`, idleKinds),
        { name: "driver VmRSS right after all unpublished", value: unpublished.rssMiB, unit: "MiB" },
        {
          name: `driver VmRSS ${waitLabel} after all unpublished`,
          value: released.rssMiB,
          unit: "MiB",
          budget: atMost(Math.round((start.rssMiB + 10) * 10) / 10, "MiB (start + 10)"),
        },
        residentRow(`  ${waitLabel} after`, releasedKinds),
        { name: "waves: wall time", value: publishing / 1000, unit: "s" },
        { name: "waves: driver CPU per publish", value: cpu.driverMs, unit: "ms" },
      ],
    }
  })

/**
 * Runs the benchmark groups in order, printing each table as it is done and a
 * summary of missed budgets at the end. Needs root (real mounts in a private mount
 * namespace); without it, says so and returns.
 */
import { canMount, mainJs } from "../test/support/driver-process.js"
import { ab } from "./ab.js"
import { badInput } from "./bad-input.js"
import { burst } from "./burst.js"
import { footprint } from "./footprint.js"
import { heap } from "./heap.js"
import { latency } from "./latency.js"
import { recovery } from "./recovery.js"
import { failures, load, machine, render, type Table } from "./report.js"

const groups: ReadonlyArray<{
  name: string
  run: () => Promise<Table | ReadonlyArray<Table>>
  /** Not part of a full run: only when named (it needs a second build to compare with). */
  named?: boolean
}> = [
  { name: "latency", run: latency },
  { name: "burst", run: burst },
  { name: "recovery", run: recovery },
  {
    name: "bad-input",
    // Through the shebang, as deployed, and under plain `node dist/main.js` (V8's default heap sizing).
    run: async () => [await badInput(), await badInput({ plainNode: true })],
  },
  { name: "footprint", run: footprint },
  { name: "heap", run: heap },
  { name: "ab", run: ab, named: true },
]

export const runBenchmarks = async (only: ReadonlyArray<string>): Promise<void> => {
  if (!canMount) {
    console.log(
      "The benchmarks need root with unshare and nsenter (real mounts in a mount namespace); skipped.",
    )
    return
  }
  const selected =
    only.length === 0
      ? groups.filter((group) => group.named !== true)
      : groups.filter((group) => only.includes(group.name))
  console.log(`Machine: ${machine()}; ${load()}`)
  console.log(`Driver: ${mainJs}\n`)
  const started = performance.now()
  const tables: Array<Table> = []
  const incomplete: Array<string> = []
  for (const group of selected) {
    try {
      const result = await group.run()
      for (const table of Array.isArray(result) ? result : [result]) {
        tables.push(table)
        console.log(
          `${render({ ...table, notes: [...(table.notes ?? []), `on ${machine()}; ${load()}`] })}\n`,
        )
      }
    } catch (error) {
      incomplete.push(group.name)
      console.log(
        `${group.name}: did not complete: ${error instanceof Error ? error.message : String(error)}\n`,
      )
    }
  }
  const missed = failures(tables)
  console.log(`Done in ${((performance.now() - started) / 1000).toFixed(0)} s on ${machine()}; ${load()}.`)
  if (incomplete.length > 0) console.log(`Groups that did not complete: ${incomplete.join(", ")}.`)
  if (missed.length > 0) console.log(`Budgets missed:\n${missed.map((m) => `  ${m}`).join("\n")}`)
  else if (incomplete.length === 0) console.log("Every budget met.")
}

/**
 * Entry of `npm run bench`: runs every benchmark group against the built driver and
 * prints a table per group. `node bench/run.ts latency burst` runs only the named
 * groups (latency, burst, recovery, footprint, heap; `ab` compares two builds, see bench/ab.ts). A report, not a gate: it always
 * exits 0. BENCH_DRIVER_NODE_OPTIONS is handed to the driver processes only, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the driver and not the bench.
 * BENCH_RELEASE_WAIT_MS shortens footprint's minute of waiting after unpublishing;
 * BENCH_HEAP_SNAPSHOTS=<dir> makes heap write snapshots there.
 *
 * Our sources import each other as `./x.js` (tsc's NodeNext convention) while the
 * files on disk are `x.ts`; Node's type stripping does not map one onto the other,
 * so a resolve hook does, before anything else is loaded.
 */
import { existsSync } from "node:fs"
import { registerHooks } from "node:module"
import { fileURLToPath } from "node:url"

registerHooks({
  resolve(specifier, context, nextResolve) {
    const parent = context.parentURL
    if (parent?.endsWith(".ts") && specifier.startsWith(".") && specifier.endsWith(".js")) {
      const url = new URL(specifier, parent)
      if (!existsSync(fileURLToPath(url))) return nextResolve(`${specifier.slice(0, -3)}.ts`, context)
    }
    return nextResolve(specifier, context)
  },
})

// Children inherit our environment; this process has read NODE_OPTIONS already. With
// `--inspect-port=0` nothing listens until the bench sends SIGUSR1 (bench/inspector.ts).
process.env.NODE_OPTIONS = [process.env.BENCH_DRIVER_NODE_OPTIONS ?? "", "--inspect-port=0"].join(" ").trim()

const { runBenchmarks } = await import("./suite.js")
await runBenchmarks(process.argv.slice(2)).catch((error: unknown) => {
  console.log(
    `The benchmarks stopped: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  )
})
process.exit(0)

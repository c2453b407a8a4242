/**
 * Linux `perf record` of a running driver while `during` runs: every thread, user and
 * kernel, sampled by CPU clock, so it shows what the V8 inspector cannot (syscalls in the
 * kernel, V8's own C++, GC on worker threads). Drivers the bench starts can be given
 * `BENCH_DRIVER_NODE_OPTIONS=--perf-basic-prof-only-functions` for JavaScript names. Read it with
 *
 *   perf report -i FILE --sort comm,sym --percentage relative
 *
 * and, recorded with call graphs, `--children` for what each function's callees cost.
 */
import { spawn } from "node:child_process"
import { once } from "node:events"
import { sleep } from "./measure.js"

export const withPerf = async <A>(
  pid: number,
  file: string,
  during: () => Promise<A>,
  options: { readonly callGraphs?: boolean } = {},
): Promise<A> => {
  const perf = spawn(
    "perf",
    ["record", ...(options.callGraphs ? ["-g"] : []), "-F", "4999", "-p", String(pid), "-o", file],
    { stdio: "inherit" },
  )
  const exited = once(perf, "exit")
  // perf says nothing once it is attached, which takes it a few ms.
  await sleep(300)
  try {
    return await during()
  } finally {
    perf.kill("SIGINT")
    await exited
  }
}

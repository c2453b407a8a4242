/**
 * Turns a `perf record -g` of the driver (BENCH_PERF with BENCH_PERF_CALLS=1, drivers run
 * with --perf-basic-prof-only-functions) into a V8 .cpuprofile of one thread, so
 * bench/cpu-profile.ts can say which of our modules the CPU went to, kernel and V8's
 * native code included: the inspector's own profile samples wall time and sees neither.
 *
 *   node bench/perf-profile.ts PERF.DATA OUT.cpuprofile [thread name, default MainThread] [--fold]
 *   node bench/cpu-profile.ts OUT.cpuprofile 100
 *
 * With --fold, native frames below a sample's innermost JavaScript frame (builtins, V8's
 * runtime, libc, the kernel) are folded into it, so the time a JavaScript call spends there
 * counts as that call's: cpu-profile.ts's "kind of work" table then reads as it does for V8's
 * own profiles. Samples with no JavaScript frame (GC, the event loop's poll) keep theirs.
 */
import { execFileSync } from "node:child_process"
import { writeFileSync } from "node:fs"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
  readonly columnNumber: number
}

interface Node {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children: Array<number>
  readonly childByKey: Map<string, number>
}

const frameLine = /^\s+[0-9a-f]+ (.*?)(?:\+0x[0-9a-f]+)? \((.*)\)$/
// V8's perf map: "JS:<tier>'name url:line:column" (a quote before named functions, 1-based positions).
const jsFrame = /^JS:[*+^~]?'?(.*?) ?((?:file|node):\S*?):(\d+):(\d+)$/

const callFrameOf = (symbol: string, dso: string): CallFrame => {
  const js = jsFrame.exec(symbol)
  if (js !== null) {
    return {
      functionName: js[1] ?? "",
      url: js[2] ?? "",
      lineNumber: Number(js[3]) - 1,
      columnNumber: Number(js[4]) - 1,
    }
  }
  const name = dso.includes("kernel") ? `[kernel] ${symbol}` : symbol
  return { functionName: name, url: "", lineNumber: -1, columnNumber: -1 }
}

const main = (perfData: string, out: string, thread: string, fold: boolean) => {
  const text = execFileSync("perf", ["script", "-i", perfData, "--comm", thread, "-F", "ip,sym,dso"], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
    stdio: ["ignore", "pipe", "ignore"],
  })
  const nodes: Array<Node> = [
    {
      id: 1,
      callFrame: { functionName: "(root)", url: "", lineNumber: -1, columnNumber: -1 },
      children: [],
      childByKey: new Map(),
    },
  ]
  const samples: Array<number> = []
  const childOf = (parent: Node, frame: CallFrame): Node => {
    const key = `${frame.functionName}\0${frame.url}\0${frame.lineNumber}\0${frame.columnNumber}`
    const known = parent.childByKey.get(key)
    if (known !== undefined) return nodes[known - 1] as Node
    const node: Node = { id: nodes.length + 1, callFrame: frame, children: [], childByKey: new Map() }
    nodes.push(node)
    parent.children.push(node.id)
    parent.childByKey.set(key, node.id)
    return node
  }
  // One sample per blank-line-separated block, innermost frame first.
  for (const block of text.split(/\n\s*\n/)) {
    const frames = block
      .split("\n")
      .map((line) => frameLine.exec(line))
      .flatMap((match) => (match === null ? [] : [callFrameOf(match[1] ?? "", match[2] ?? "")]))
    if (frames.length === 0) continue
    const innermostJs = frames.findIndex((frame) => frame.url !== "")
    if (fold && innermostJs > 0) frames.splice(0, innermostJs)
    let node = nodes[0] as Node
    for (const frame of frames.reverse()) node = childOf(node, frame)
    samples.push(node.id)
  }
  const profile = {
    nodes: nodes.map(({ id, callFrame, children }) => ({ id, callFrame, children })),
    startTime: 0,
    endTime: samples.length * 200,
    samples,
    // perf samples at 4,999 Hz: ~200 µs each.
    timeDeltas: samples.map(() => 200),
  }
  writeFileSync(out, JSON.stringify(profile))
  console.log(`${samples.length} samples of ${thread}, ${nodes.length} nodes → ${out}`)
}

const args = process.argv.slice(2)
const fold = args.includes("--fold")
const [perfData, out, thread = "MainThread"] = args.filter((arg) => arg !== "--fold")
if (perfData === undefined || out === undefined) {
  console.error("usage: node bench/perf-profile.ts PERF.DATA OUT.cpuprofile [thread] [--fold]")
  process.exit(2)
}
main(perfData, out, thread, fold)

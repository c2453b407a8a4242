/**
 * Reads a V8 CPU profile of the driver (`BENCH_DRIVER_NODE_OPTIONS="--cpu-prof
 * --cpu-prof-dir=DIR" npm run bench`, written when the driver exits) and says where
 * its main thread's time went: by package (each bundled function is mapped back to
 * its source through the chunk's source map) and by function.
 *
 *   node bench/cpu-profile.ts FILE.cpuprofile [calls] [function]
 *
 * With `calls` (e.g. the number of publishes the profile covers), times are per call;
 * with `function`, the call paths (innermost six frames) that spent time in it.
 * A sampling heap profile (.heapprofile, from HeapProfiler.stopSampling) reads the same
 * way, in KiB allocated where a CPU profile says ms.
 * `(garbage collector)`, `(program)` (V8 and Node's native code outside any
 * JavaScript function) and `(idle)` are V8's own entries.
 */
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const base64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/** A source map as per-line sorted segments: [generated column, source index, source line]. */
const loadMap = (
  file: string,
): { sources: ReadonlyArray<string>; lines: Array<Array<[number, number, number]>> } => {
  const map = JSON.parse(readFileSync(file, "utf8")) as { sources: Array<string>; mappings: string }
  const lines: Array<Array<[number, number, number]>> = []
  let source = 0
  let sourceLine = 0
  for (const line of map.mappings.split(";")) {
    const segments: Array<[number, number, number]> = []
    let column = 0
    for (const segment of line === "" ? [] : line.split(",")) {
      const values: Array<number> = []
      let value = 0
      let shift = 0
      for (const char of segment) {
        const digit = base64.indexOf(char)
        value += (digit & 31) << shift
        if (digit & 32) shift += 5
        else {
          values.push(value & 1 ? -(value >> 1) : value >> 1)
          value = 0
          shift = 0
        }
      }
      column += values[0] ?? 0
      if (values.length > 1) {
        source += values[1] ?? 0
        sourceLine += values[2] ?? 0
        segments.push([column, source, sourceLine])
      }
    }
    lines.push(segments)
  }
  return { sources: map.sources, lines }
}

const maps = new Map<string, ReturnType<typeof loadMap> | undefined>()

/** The original source of a bundled position ("node_modules/effect/dist/…", "src/…"), when the chunk has a map. */
const originalOf = (url: string, line: number, column: number): string | undefined => {
  if (!url.startsWith("file://")) return undefined
  const file = `${fileURLToPath(url)}.map`
  if (!maps.has(file)) maps.set(file, existsSync(file) ? loadMap(file) : undefined)
  const map = maps.get(file)
  const segments = map?.lines[line]
  if (map === undefined || segments === undefined || segments.length === 0) return undefined
  let found = segments[0]
  for (const segment of segments) {
    if (segment[0] > column) break
    found = segment
  }
  const source = map.sources[found?.[1] ?? 0] ?? ""
  return `${source.replace(/^(\.\.\/)+/, "")}:${(found?.[2] ?? 0) + 1}`
}

const packageOf = (source: string | undefined, url: string): string => {
  if (source === undefined)
    return url === "" ? "(V8 / native)" : url.startsWith("node:") ? "node (builtins)" : url
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(source)
  return match?.[1] ?? "our code (src/)"
}

interface HeapProfileNode {
  readonly id: number
  readonly callFrame: ProfileNode["callFrame"]
  readonly selfSize: number
  readonly children: ReadonlyArray<HeapProfileNode>
}

/** A sampling heap profile's tree (HeapProfiler.stopSampling) as a CPU profile's node list, bytes as "time". */
const fromHeapProfile = (head: HeapProfileNode): { nodes: Array<ProfileNode>; self: Map<number, number> } => {
  const nodes: Array<ProfileNode> = []
  const self = new Map<number, number>()
  const visit = (node: HeapProfileNode) => {
    nodes.push({ id: node.id, callFrame: node.callFrame, children: node.children.map((child) => child.id) })
    // KiB, so the tables read as "KiB per call" where they say ms.
    if (node.selfSize > 0) self.set(node.id, node.selfSize / 1024)
    for (const child of node.children) visit(child)
  }
  visit(head)
  return { nodes, self }
}

/** Kinds of work, by the function and source of a sample's innermost frame; the first rule that matches wins. */
const kinds: ReadonlyArray<readonly [string, RegExp]> = [
  ["V8: garbage collection", /^\(garbage collector\)/],
  ["V8 and Node native code outside JS", /^\(program\)/],
  ["idle", /^\(idle\)/],
  [
    "Effect: spans and stack frames",
    /^(makeSpanUnsafe|endSpan|useSpan|makeCallFrame|NativeSpan|Error) |effect\/dist\/(Tracer|internal\/tracer)/,
  ],
  [
    "Effect: logging (format, annotations, console)",
    /effect\/dist\/(Logger|Formatter)|^(consoleCall|formatJson) |node:internal\/console|^writeUtf8String /,
  ],
  ["Effect: metrics", /effect\/dist\/(Metric|internal\/metric)/],
  ["Effect: Schema decode/encode", /effect\/dist\/(Schema|internal\/schema)/],
  ["Effect: runtime (fibers, context, continuations)", /effect\/dist\//],
  [
    "Kubernetes client (client-node, undici, fetch streams)",
    /@kubernetes|undici\/|node:internal\/webstreams|wasm:|^wasm/,
  ],
  [
    "gRPC server (grpc-js, protobufjs, http2)",
    /@grpc|protobufjs|@protobufjs|node:internal\/http2|node:http2/,
  ],
  [
    "files and mounts (fs calls)",
    /^(lstat|open|openFileHandle|read|readFileUtf8|readFileHandle|realpath|mkdir|rename|fstat|fchmod|fchown|chmod|chown|writeFileUtf8|writeString|unlink|rmdir|rm|readdir|close|symlink|readlink|fsync|utimes) |node:fs|node:internal\/fs/,
  ],
  [
    "crypto (keys, CSR signature, certificate checks)",
    /^(export|parseX509|verify|run|sign|generateKeyPair|createPublicKey|createPrivateKey|X509Certificate) |node:internal\/crypto/,
  ],
  ["our code", /\bsrc\//],
  ["Node: streams, sockets, timers, events", /node:|^(writev|writeBuffer|writeLatin1String) /],
]

const run = (file: string, calls: number, focus: string | undefined) => {
  const raw = JSON.parse(readFileSync(file, "utf8")) as Profile | { head: HeapProfileNode }
  const profile =
    "head" in raw
      ? fromHeapProfile(raw.head)
      : {
          nodes: raw.nodes,
          self: raw.samples.reduce(
            (self, id, i) => self.set(id, (self.get(id) ?? 0) + (raw.timeDeltas[i] ?? 0) / 1000),
            new Map<number, number>(),
          ),
        }
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = profile.self
  const total = [...self.values()].reduce((sum, ms) => sum + ms, 0)
  const packages = new Map<string, number>()
  const functions = new Map<string, number>()
  const files = new Map<string, number>()
  for (const [id, ms] of self) {
    const frame = byId.get(id)?.callFrame
    if (frame === undefined) continue
    const special = frame.functionName.startsWith("(") && frame.url === ""
    const source = special ? undefined : originalOf(frame.url, frame.lineNumber, frame.columnNumber)
    const pkg = special ? frame.functionName : packageOf(source, frame.url)
    packages.set(pkg, (packages.get(pkg) ?? 0) + ms)
    const name = `${frame.functionName || "(anonymous)"}  ${source ?? frame.url.replace(/^file:\/\/.*\/dist\//, "dist/")}`
    functions.set(name, (functions.get(name) ?? 0) + ms)
    const sourceFile =
      source !== undefined
        ? source.replace(/:\d+$/, "").replace(/.*node_modules\//, "")
        : frame.url.startsWith("node:")
          ? frame.url
          : pkg === "(V8 / native)"
            ? `native ${frame.functionName}`
            : pkg
    files.set(sourceFile, (files.get(sourceFile) ?? 0) + ms)
  }
  const measure = "head" in raw ? "KiB allocated" : "ms"
  const unit = calls > 1 ? `${measure} per call (${calls} calls)` : measure
  const show = (title: string, entries: Map<string, number>, limit: number) => {
    console.log(`\n${title} (${unit}, share of ${total.toFixed(0)} ${measure} sampled)`)
    for (const [name, ms] of [...entries].toSorted((a, b) => b[1] - a[1]).slice(0, limit)) {
      console.log(
        `${(ms / calls).toFixed(3).padStart(10)} ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${name}`,
      )
    }
  }
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  if (focus === undefined) {
    // The nearest of our modules on each sample's stack: what our code caused, library and
    // native work beneath it included; else the package the stack started in (callbacks of
    // sockets, timers and promises, whose stacks do not show who asked for them).
    const causes = new Map<string, number>()
    for (const [id, ms] of self) {
      let cause: string | undefined
      let outermost = "(root)"
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const frame = byId.get(at)?.callFrame
        if (frame === undefined || frame.functionName === "(root)") continue
        const source = originalOf(frame.url, frame.lineNumber, frame.columnNumber)
        if (source?.startsWith("src/")) {
          cause = source.replace(/:\d+$/, "")
          break
        }
        outermost =
          frame.functionName.startsWith("(") && frame.url === ""
            ? frame.functionName
            : packageOf(source, frame.url)
      }
      const key = cause ?? `no src frame; stack from ${outermost}`
      causes.set(key, (causes.get(key) ?? 0) + ms)
    }
    const byKind = new Map<string, number>()
    for (const [name, ms] of functions) {
      const kind = kinds.find(([, pattern]) => pattern.test(name))?.[0] ?? "other"
      byKind.set(kind, (byKind.get(kind) ?? 0) + ms)
    }
    show("self time by kind of work", byKind, 20)
    show("self time by package", packages, 25)
    show("self time by source file", files, 40)
    show("time by the nearest of our modules on the stack", causes, 40)
    show("self time by function", functions, 50)
    return
  }
  // Who calls `focus`: the six frames above each sampled node whose stack contains it.
  const frameName = (id: number) => {
    const frame = byId.get(id)?.callFrame
    if (frame === undefined) return "?"
    const source = originalOf(frame.url, frame.lineNumber, frame.columnNumber)
    return `${frame.functionName || "(anonymous)"} ${(source ?? frame.url).replace(/.*node_modules\//, "").replace(/^node:internal\//, "")}`
  }
  const paths = new Map<string, number>()
  for (const [id, ms] of self) {
    let at: number | undefined = id
    while (at !== undefined && byId.get(at)?.callFrame.functionName !== focus) at = parent.get(at)
    if (at === undefined) continue
    const chain: Array<string> = []
    for (
      let up: number | undefined = at;
      up !== undefined && chain.length < Number(process.env.DEPTH ?? 6);
      up = parent.get(up)
    )
      chain.push(frameName(up))
    const key = chain.join("\n           ← ")
    paths.set(key, (paths.get(key) ?? 0) + ms)
  }
  show(`time in ${focus}, by caller`, paths, 12)
}

run(process.argv[2] ?? "", Number(process.argv[3] ?? 1), process.argv[4])

/**
 * Reads V8 heap snapshots (from `npm run bench` with BENCH_HEAP_SNAPSHOTS, or a driver
 * run with `--heapsnapshot-signal=SIGUSR2`) and says what the heap is made of.
 *
 *   node bench/heap-snapshot.ts classes A.heapsnapshot          self size by class
 *   node bench/heap-snapshot.ts scripts A.heapsnapshot          code and sources by script (bundle chunk)
 *   node bench/heap-snapshot.ts diff A.heapsnapshot B.heapsnapshot [per]
 *                                                              what B has more of than A, by class, divided by `per`
 *   node bench/heap-snapshot.ts owners A.heapsnapshot B.heapsnapshot [per]
 *                                                              objects new in B (same process), by class and holder
 *   node bench/heap-snapshot.ts holders A.heapsnapshot B.heapsnapshot [per] [keeper]
 *                                                              objects new in B, by the old object that dominates them;
 *                                                              with `keeper` (text of a line), what that one keeps, by class
 *   node bench/heap-snapshot.ts retainers A.heapsnapshot CLASS [count]
 *                                                              who keeps objects of CLASS (paths up to the roots)
 *
 * A class is an object's constructor name, a closure's function name, or V8's own
 * name for internal objects ("system / Context"), prefixed by the node type when it
 * is not a plain object. Retained sizes come from the dominator tree (weak edges
 * ignored), computed with Cooper, Harvey and Kennedy's iterative algorithm.
 */
import { readFileSync } from "node:fs"

interface Snapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: ReadonlyArray<string>
      readonly node_types: readonly [ReadonlyArray<string>, ...unknown[]]
      readonly edge_fields: ReadonlyArray<string>
      readonly edge_types: readonly [ReadonlyArray<string>, ...unknown[]]
    }
  }
  readonly nodes: ReadonlyArray<number>
  readonly edges: ReadonlyArray<number>
  readonly strings: ReadonlyArray<string>
}

/** One snapshot as flat arrays: node i's fields start at i * nodeFields. */
class Heap {
  readonly count: number
  private readonly nodeFields: number
  private readonly edgeFields: number
  private readonly nodeTypes: ReadonlyArray<string>
  private readonly edgeTypes: ReadonlyArray<string>
  private readonly raw: Snapshot
  /** Index of node i's first edge (in edge records). */
  readonly firstEdge: Uint32Array

  constructor(file: string) {
    this.raw = JSON.parse(readFileSync(file, "utf8")) as Snapshot
    const meta = this.raw.snapshot.meta
    this.nodeFields = meta.node_fields.length
    this.edgeFields = meta.edge_fields.length
    this.nodeTypes = meta.node_types[0]
    this.edgeTypes = meta.edge_types[0]
    this.count = this.raw.nodes.length / this.nodeFields
    this.firstEdge = new Uint32Array(this.count + 1)
    for (let i = 0, edge = 0; i < this.count; i++) {
      this.firstEdge[i] = edge
      edge += this.edgeCount(i)
    }
    this.firstEdge[this.count] = this.raw.edges.length / this.edgeFields
  }

  type(i: number): string {
    return this.nodeTypes[this.raw.nodes[i * this.nodeFields] ?? 0] ?? "?"
  }
  name(i: number): string {
    return this.raw.strings[this.raw.nodes[i * this.nodeFields + 1] ?? 0] ?? ""
  }
  id(i: number): number {
    return this.raw.nodes[i * this.nodeFields + 2] ?? 0
  }
  selfSize(i: number): number {
    return this.raw.nodes[i * this.nodeFields + 3] ?? 0
  }
  private edgeCount(i: number): number {
    return this.raw.nodes[i * this.nodeFields + 4] ?? 0
  }
  edgeType(e: number): string {
    return this.edgeTypes[this.raw.edges[e * this.edgeFields] ?? 0] ?? "?"
  }
  edgeName(e: number): string {
    const type = this.edgeType(e)
    const value = this.raw.edges[e * this.edgeFields + 1] ?? 0
    return type === "element" || type === "hidden" ? `[${value}]` : (this.raw.strings[value] ?? "")
  }
  edgeTarget(e: number): number {
    return (this.raw.edges[e * this.edgeFields + 2] ?? 0) / this.nodeFields
  }

  /** What a node is, for grouping. */
  classOf(i: number): string {
    const type = this.type(i)
    const name = this.name(i)
    switch (type) {
      case "object":
        return name
      case "string":
      case "concatenated string":
      case "sliced string":
        return "(string)"
      case "number":
      case "symbol":
      case "bigint":
        return `(${type})`
      case "closure":
        return `(closure) ${name || "anonymous"}`
      case "code":
        // "system / Map", "(shared function info)"; one named after its function is that function's code.
        return `(code) ${name.startsWith("system /") || name.startsWith("(") ? name.replace(/\d+/g, "#").slice(0, 60) : "function code"}`
      default:
        return `(${type}) ${name.replace(/\d+/g, "#").slice(0, 60)}`
    }
  }

  /** The script a code node or closure belongs to, when its edges say. */
  scriptOf(i: number): string | undefined {
    for (let e = this.firstEdge[i] ?? 0; e < (this.firstEdge[i + 1] ?? 0); e++) {
      const edge = this.edgeName(e)
      if (edge === "script") return this.name(this.edgeTarget(e))
      if (edge === "shared") return this.scriptOf(this.edgeTarget(e))
    }
    return undefined
  }

  /** Immediate dominators (node 0 is the root), over strong edges. */
  dominators(): Int32Array {
    const n = this.count
    const order = new Int32Array(n).fill(-1) // postorder number
    const byOrder = new Int32Array(n)
    const stack: Array<number> = [0]
    const next = new Uint32Array(n)
    for (let i = 0; i < n; i++) next[i] = this.firstEdge[i] ?? 0
    const seen = new Uint8Array(n)
    seen[0] = 1
    let counter = 0
    while (stack.length > 0) {
      const node = stack[stack.length - 1] ?? 0
      const end = this.firstEdge[node + 1] ?? 0
      let pushed = false
      while ((next[node] ?? 0) < end) {
        const e = next[node] ?? 0
        next[node] = e + 1
        if (this.edgeType(e) === "weak") continue
        const to = this.edgeTarget(e)
        if (seen[to] === 0) {
          seen[to] = 1
          stack.push(to)
          pushed = true
          break
        }
      }
      if (!pushed) {
        stack.pop()
        order[node] = counter
        byOrder[counter] = node
        counter++
      }
    }
    // Predecessors of each reachable node.
    const predCount = new Uint32Array(n + 1)
    for (let i = 0; i < n; i++) {
      if (order[i] === -1) continue
      for (let e = this.firstEdge[i] ?? 0; e < (this.firstEdge[i + 1] ?? 0); e++) {
        if (this.edgeType(e) !== "weak")
          predCount[this.edgeTarget(e) + 1] = (predCount[this.edgeTarget(e) + 1] ?? 0) + 1
      }
    }
    for (let i = 0; i < n; i++) predCount[i + 1] = (predCount[i + 1] ?? 0) + (predCount[i] ?? 0)
    const preds = new Int32Array(predCount[n] ?? 0)
    const fill = predCount.slice()
    for (let i = 0; i < n; i++) {
      if (order[i] === -1) continue
      for (let e = this.firstEdge[i] ?? 0; e < (this.firstEdge[i + 1] ?? 0); e++) {
        if (this.edgeType(e) === "weak") continue
        const to = this.edgeTarget(e)
        preds[fill[to] ?? 0] = i
        fill[to] = (fill[to] ?? 0) + 1
      }
    }
    const idom = new Int32Array(n).fill(-1)
    idom[0] = 0
    const intersect = (a: number, b: number) => {
      let x = a
      let y = b
      while (x !== y) {
        while ((order[x] ?? 0) < (order[y] ?? 0)) x = idom[x] ?? 0
        while ((order[y] ?? 0) < (order[x] ?? 0)) y = idom[y] ?? 0
      }
      return x
    }
    let changed = true
    while (changed) {
      changed = false
      for (let k = counter - 1; k >= 0; k--) {
        const node = byOrder[k] ?? 0
        if (node === 0) continue
        let dom = -1
        for (let p = predCount[node] ?? 0; p < (predCount[node + 1] ?? 0); p++) {
          const pred = preds[p] ?? 0
          if (idom[pred] === -1) continue
          dom = dom === -1 ? pred : intersect(pred, dom)
        }
        if (dom !== -1 && idom[node] !== dom) {
          idom[node] = dom
          changed = true
        }
      }
    }
    return idom
  }

  retainedSizes(idom: Int32Array): Float64Array {
    const retained = new Float64Array(this.count)
    for (let i = 0; i < this.count; i++) retained[i] = this.selfSize(i)
    // Children before parents: deeper nodes first, by repeated passes over a depth order.
    const depth = new Int32Array(this.count).fill(-1)
    depth[0] = 0
    const depthOf = (i: number): number => {
      const path: Array<number> = []
      let x = i
      while ((depth[x] ?? -1) === -1 && (idom[x] ?? -1) !== -1) {
        path.push(x)
        x = idom[x] ?? 0
      }
      let d = depth[x] ?? 0
      for (let k = path.length - 1; k >= 0; k--) {
        d++
        depth[path[k] ?? 0] = d
      }
      return depth[i] ?? 0
    }
    const nodes = Array.from({ length: this.count }, (_, i) => i).filter((i) => (idom[i] ?? -1) !== -1)
    nodes.sort((a, b) => depthOf(b) - depthOf(a))
    for (const i of nodes)
      if (i !== 0) retained[idom[i] ?? 0] = (retained[idom[i] ?? 0] ?? 0) + (retained[i] ?? 0)
    return retained
  }
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`

const table = (rows: ReadonlyArray<readonly [string, number, number]>, limit: number, per = 1) => {
  for (const [name, count, bytes] of rows.slice(0, limit)) {
    const size = per === 1 ? kib(bytes).padStart(12) : `${(bytes / per).toFixed(0).padStart(8)} B`
    const n = per === 1 ? String(count).padStart(8) : (count / per).toFixed(2).padStart(8)
    console.log(`${size} ${n}  ${name}`)
  }
}

const byClass = (heap: Heap): Map<string, { count: number; bytes: number }> => {
  const groups = new Map<string, { count: number; bytes: number }>()
  for (let i = 0; i < heap.count; i++) {
    const key = heap.classOf(i)
    const group = groups.get(key) ?? { count: 0, bytes: 0 }
    group.count++
    group.bytes += heap.selfSize(i)
    groups.set(key, group)
  }
  return groups
}

const classes = (file: string) => {
  const heap = new Heap(file)
  const groups = [...byClass(heap)].map(([k, g]) => [k, g.count, g.bytes] as const)
  const total = groups.reduce((sum, [, , bytes]) => sum + bytes, 0)
  console.log(`${file}: ${heap.count} objects, ${kib(total)} in all\n    self    count  class`)
  table(
    groups.toSorted((a, b) => b[2] - a[2]),
    50,
  )
}

const scripts = (file: string) => {
  const heap = new Heap(file)
  const retained = heap.retainedSizes(heap.dominators())
  const groups = new Map<string, { count: number; bytes: number }>()
  for (let i = 0; i < heap.count; i++) {
    const type = heap.type(i)
    if (type !== "code" && type !== "closure") continue
    const script = heap.scriptOf(i)
    if (script === undefined) continue
    // Shared function infos hold the function's bytecode, scope info and feedback metadata.
    const bytes =
      heap.name(i) === "system / Script" || type === "closure" ? heap.selfSize(i) : (retained[i] ?? 0)
    const group = groups.get(script) ?? { count: 0, bytes: 0 }
    group.count++
    group.bytes += bytes
    groups.set(script, group)
  }
  console.log(
    `${file}: functions' code (retained by their shared function infos) and closures, by script\n    bytes   items  script`,
  )
  table(
    [...groups]
      .map(([k, g]) => [k.replace(/^file:\/\/.*\/dist\//, "dist/"), g.count, g.bytes] as const)
      .toSorted((a, b) => b[2] - a[2]),
    30,
  )
}

const diff = (before: string, after: string, per: number) => {
  const a = byClass(new Heap(before))
  const b = byClass(new Heap(after))
  const keys = new Set([...a.keys(), ...b.keys()])
  const rows = [...keys].map((key) => {
    const x = a.get(key) ?? { count: 0, bytes: 0 }
    const y = b.get(key) ?? { count: 0, bytes: 0 }
    return [key, y.count - x.count, y.bytes - x.bytes] as const
  })
  const total = rows.reduce((sum, [, , bytes]) => sum + bytes, 0)
  console.log(`${after} minus ${before}, per ${per}: ${(total / per).toFixed(0)} B\n    bytes   count  class`)
  table(
    rows.toSorted((x, y) => y[2] - x[2]),
    Number(process.env.LIMIT ?? 60),
    per,
  )
}

const retainers = (file: string, className: string, count: number) => {
  const heap = new Heap(file)
  const parents = new Map<number, Array<[number, number]>>()
  for (let i = 0; i < heap.count; i++) {
    for (let e = heap.firstEdge[i] ?? 0; e < (heap.firstEdge[i + 1] ?? 0); e++) {
      if (heap.edgeType(e) === "weak") continue
      const to = heap.edgeTarget(e)
      const list = parents.get(to) ?? []
      if (list.length < 4) list.push([i, e])
      parents.set(to, list)
    }
  }
  const targets: Array<number> = []
  for (let i = 0; i < heap.count && targets.length < count; i++)
    if (heap.classOf(i) === className) targets.push(i)
  for (const target of targets) {
    // Breadth-first up the retainers to the nearest GC root (node 0's children).
    const via = new Map<number, [number, number]>()
    const queue = [target]
    let found = -1
    for (let k = 0; k < queue.length && found === -1 && k < 200_000; k++) {
      const node = queue[k] ?? 0
      for (const [parent, edge] of parents.get(node) ?? []) {
        if (via.has(parent) || parent === target) continue
        via.set(parent, [node, edge])
        if (parent === 0) {
          found = node
          break
        }
        queue.push(parent)
      }
    }
    const path: Array<string> = []
    let node = 0
    while (via.has(node) && node !== target) {
      const [child, edge] = via.get(node) ?? [0, 0]
      path.push(`${heap.classOf(node)} .${heap.edgeName(edge)}`)
      node = child
    }
    console.log(`${className} #${target}: ${path.slice(1).join(" → ")} → it`)
  }
}

/**
 * Objects of B that A did not have (ids persist between snapshots of one process),
 * grouped by class and by what holds them (the first strong retainer's class and edge).
 */
const owners = (before: string, after: string, per: number) => {
  const a = new Heap(before)
  const old = new Set<number>()
  for (let i = 0; i < a.count; i++) old.add(a.id(i))
  const b = new Heap(after)
  const owner = new Map<number, string>()
  for (let i = 0; i < b.count; i++) {
    for (let e = b.firstEdge[i] ?? 0; e < (b.firstEdge[i + 1] ?? 0); e++) {
      const to = b.edgeTarget(e)
      if (b.edgeType(e) === "weak" || owner.has(to) || old.has(b.id(to))) continue
      owner.set(
        to,
        `${b.classOf(i)}${old.has(b.id(i)) ? " (old)" : ""} .${b.edgeName(e).replace(/\d+/g, "#")}`,
      )
    }
  }
  const groups = new Map<string, { count: number; bytes: number }>()
  for (let i = 0; i < b.count; i++) {
    if (old.has(b.id(i))) continue
    const key = `${b.classOf(i)}  ⟵  ${owner.get(i) ?? "?"}`
    const group = groups.get(key) ?? { count: 0, bytes: 0 }
    group.count++
    group.bytes += b.selfSize(i)
    groups.set(key, group)
  }
  console.log(
    `objects of ${after} not in ${before}, by class ⟵ holder .edge, per ${per}\n    bytes   count  class ⟵ held by`,
  )
  table(
    [...groups].map(([k, g]) => [k, g.count, g.bytes] as const).toSorted((x, y) => y[2] - x[2]),
    80,
    per,
  )
}

/**
 * Objects of B that A did not have, grouped by the nearest object A did have that
 * dominates them (the long-lived container that keeps them: a Map, a fiber, a cache).
 */
const holders = (before: string, after: string, per: number, inside?: string) => {
  const a = new Heap(before)
  const old = new Set<number>()
  for (let i = 0; i < a.count; i++) old.add(a.id(i))
  const b = new Heap(after)
  const idom = b.dominators()
  // The edge by which each node's dominator reaches it, when it does directly.
  const via = new Map<number, string>()
  for (let i = 0; i < b.count; i++) {
    for (let e = b.firstEdge[i] ?? 0; e < (b.firstEdge[i + 1] ?? 0); e++) {
      const to = b.edgeTarget(e)
      if (idom[to] === i && !via.has(to)) via.set(to, b.edgeName(e).replace(/\d+/g, "#"))
    }
  }
  const groups = new Map<string, { count: number; bytes: number }>()
  for (let i = 0; i < b.count; i++) {
    if (old.has(b.id(i)) || (idom[i] ?? -1) === -1) continue
    let child = i
    let holder = idom[i] ?? 0
    while (holder !== 0 && !old.has(b.id(holder))) {
      child = holder
      holder = idom[holder] ?? 0
    }
    const top = `${b.classOf(holder)} .${via.get(child) ?? "?"} → ${b.classOf(child)}`
    // With `inside`, only what that kind of keeper holds, by the class of each object.
    if (inside !== undefined && !top.includes(inside)) continue
    const key =
      inside === undefined ? top : `${b.classOf(i)}  ⟵ .${via.get(i) ?? "?"} of ${b.classOf(idom[i] ?? 0)}`
    const group = groups.get(key) ?? { count: 0, bytes: 0 }
    group.count++
    group.bytes += b.selfSize(i)
    groups.set(key, group)
  }
  console.log(
    `objects of ${after} not in ${before}, by the old object that keeps them, per ${per}\n    bytes   count  keeper .edge → first new object`,
  )
  table(
    [...groups].map(([k, g]) => [k, g.count, g.bytes] as const).toSorted((x, y) => y[2] - x[2]),
    Number(process.env.LIMIT ?? 60),
    per,
  )
}

const [command, ...args] = process.argv.slice(2)
switch (command) {
  case "classes":
    classes(args[0] ?? "")
    break
  case "scripts":
    scripts(args[0] ?? "")
    break
  case "diff":
    diff(args[0] ?? "", args[1] ?? "", Number(args[2] ?? 1))
    break
  case "owners":
    owners(args[0] ?? "", args[1] ?? "", Number(args[2] ?? 1))
    break
  case "holders":
    holders(args[0] ?? "", args[1] ?? "", Number(args[2] ?? 1), args[3])
    break
  case "retainers":
    retainers(args[0] ?? "", args[1] ?? "", Number(args[2] ?? 3))
    break
  default:
    console.log(
      "usage: node bench/heap-snapshot.ts classes|scripts|diff|retainers … (see the top of this file)",
    )
}

/**
 * Group 5: bad input — 10,000 invalid NodePublishVolume calls of mixed kinds (huge
 * lists, unknown keys, bad values, unknown variables, huge values, bad target paths,
 * malformed tokens), one at a time as kubelet retries them, through a driver run
 * with `--use-token-request` (so token checks apply). Reports answer times (p50/p99
 * over inputs up to 64 KiB, the budgeted size, and over all), the longest status
 * message, and the driver's memory before and after, each read once the driver has
 * gone quiet and given memory back (observability/housekeeping.ts), after full GCs
 * forced through its inspector (bench/inspector.ts), which costs the same before and after.
 */
import { randomBytes, randomUUID } from "node:crypto"
import * as grpc from "@grpc/grpc-js"
import { Duration } from "effect"
import { quietAfter } from "../src/observability/housekeeping.js"
import { seedAttributes, startHarness } from "../test/e2e/support.js"
import { CsiClient } from "../test/support/csi-client.js"
import type { Kubelet, Pod } from "../test/support/kubelet.js"
import { type Inspector, openInspector } from "./inspector.js"
import { memoryOf, sleep, summarize } from "./measure.js"
import { atMost, type Figure, type Table } from "./report.js"

const calls = Number(process.env.BENCH_BAD_INPUT_CALLS ?? 10_000)
const budgetBytes = 64 * 1024
const mib = 2 ** 20

/** One malformed call: what it gets wrong, and its request as kubelet would send it. */
export interface BadCall {
  readonly kind: string
  readonly request: ReturnType<Kubelet["publishRequest"]>
  readonly bytes: number
}

const tokensKey = "csi.storage.k8s.io/serviceAccount.tokens"
const inAnHour = () => new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, "Z")
/** A well-formed token, so a call is wrong only in the way its kind says. */
const goodTokens = () =>
  JSON.stringify({ "": { token: randomBytes(24).toString("base64url"), expirationTimestamp: inAnHour() } })

const entries = <A>(count: number, entry: (i: number) => A): Array<A> =>
  Array.from({ length: count }, (_, i) => entry(i))
/** List sizes: mostly small, now and then one that takes a message past any sane length. */
const sizeOf = (i: number): number => [3, 30, 300, 1000, 3000][i % 5]! * (i % 97 === 0 ? 4 : 1)

const makers: ReadonlyArray<{ kind: string; attributes: (i: number) => Record<string, string> }> = [
  {
    kind: "huge list",
    attributes: (i) => ({
      ...seedAttributes,
      "csi.cert-manager.io/dns-names": entries(sizeOf(i), (j) => `bad_name!${j}.example.com`).join(","),
    }),
  },
  {
    kind: "bad keys",
    attributes: (i) => ({
      ...seedAttributes,
      ...Object.fromEntries(
        entries(
          Math.ceil(sizeOf(i) / 3),
          (j): Array<[string, string]> => [
            [`csi.cert-manager.io/unknown-${j}`, "x"],
            [`dns-names-${j}`, "y"],
            [`csi.cert-manager.io/dns-name${j % 10}`, "z"],
          ],
        ).flat(),
      ),
    }),
  },
  {
    kind: "bad values",
    attributes: (i) => ({
      ...seedAttributes,
      "csi.cert-manager.io/duration": `forever${i}`,
      "csi.cert-manager.io/key-size": "big",
      "csi.cert-manager.io/is-ca": "yes",
      "csi.cert-manager.io/ip-sans": entries(sizeOf(i), (j) => `300.0.0.${j}`).join(","),
      "csi.cert-manager.io/uri-sans": entries(sizeOf(i), (j) => `no-scheme-${j}`).join(","),
      "csi.cert-manager.io/key-usages": entries(sizeOf(i), (j) => `server auth${j}`).join(","),
      "csi.cert-manager.io/certificate-file": "../etc/passwd",
      "csi.cert-manager.io/literal-subject": `CN=a,XX=${i}`,
    }),
  },
  {
    kind: "unknown variables",
    attributes: (i) => ({
      ...seedAttributes,
      "csi.cert-manager.io/dns-names": entries(sizeOf(i), (j) => `\${POD_NAME_${j}}.example.com`).join(","),
      "csi.cert-manager.io/common-name": `\${POD_NAMES}-${i}`,
    }),
  },
  {
    kind: "huge value",
    attributes: (i) => ({
      ...seedAttributes,
      // Under the budget size mostly; one in 97 is 1 MiB.
      "csi.cert-manager.io/common-name": `${"x".repeat(i % 97 === 0 ? mib : 60_000)}\${NOPE}`,
      "csi.cert-manager.io/key-algorithm": "x".repeat(i % 2 === 0 ? 2000 : 20),
    }),
  },
]

/** Target paths kubelet never sends; each call is also read-write, which is refused before any path is touched. */
const badPaths = (root: string, i: number): string =>
  [
    "relative/mount",
    `${root}/pods/../../escape-${i}`,
    "/",
    `${root}//pods/x/mount/`,
    `${root}/pods/nul\u0000byte`,
    `/${"p".repeat(10_000)}`,
  ][i % 6]!

const badTokens = (i: number): string =>
  [
    "not json",
    "[]",
    JSON.stringify({ "": { token: "", expirationTimestamp: inAnHour() } }),
    JSON.stringify({ "": { token: "t0ken-value-never-shown", expirationTimestamp: "yesterday" } }),
    JSON.stringify({ "https://other": { token: "t", expirationTimestamp: inAnHour() } }),
    JSON.stringify({ "": "just a string" }),
    JSON.stringify(
      Object.fromEntries(
        entries(sizeOf(i), (j) => [`aud-${j}`, { token: "t".repeat(64), expirationTimestamp: "" }]),
      ),
    ),
  ][Math.floor(i / 7) % 7]!

const podOf = (i: number): Pod => ({ name: `bad-${i}`, namespace: "bench", uid: randomUUID() })

/** The i-th malformed call, kinds in turn. */
export const badCall = (kubelet: Kubelet, i: number): BadCall => {
  const slot = i % (makers.length + 2)
  const pod = podOf(i)
  let kind: string
  let request: ReturnType<Kubelet["publishRequest"]>
  if (slot < makers.length) {
    const maker = makers[slot]!
    kind = maker.kind
    request = kubelet.publishRequest(pod, maker.attributes(i), {
      extraContext: { [tokensKey]: goodTokens() },
    })
  } else if (slot === makers.length) {
    kind = "bad path"
    const base = kubelet.publishRequest(pod, seedAttributes, {
      readOnly: false,
      extraContext: { [tokensKey]: goodTokens() },
    })
    request = { ...base, target_path: badPaths(kubelet.root, i) }
  } else {
    kind = "bad tokens"
    request = kubelet.publishRequest(pod, seedAttributes, { extraContext: { [tokensKey]: badTokens(i) } })
  }
  return { kind, request, bytes: Buffer.byteLength(JSON.stringify(request)) }
}

interface Answer {
  /** What the call was, without its request (10,000 of them would hold ~1 GB here). */
  readonly call: Pick<BadCall, "kind" | "bytes">
  readonly ms: number
  readonly code: grpc.status
  readonly messageBytes: number
  /** The client could not read the answer. */
  readonly unreadable: boolean
}

/** An answer the client could not read (trailers too large: "Received RST_STREAM … Protocol error"). */
const isTransportError = (details: string) => details.includes("RST_STREAM")

/**
 * Sends `count` malformed publishes one after the other, on a client of its own that
 * is replaced when an answer broke the connection.
 */
export const sendBadCalls = async (kubelet: Kubelet, count: number, first = 0): Promise<Array<Answer>> => {
  const answers: Array<Answer> = []
  let client = new CsiClient(kubelet.csi.socket)
  for (let i = first; i < first + count; i++) {
    const call = badCall(kubelet, i)
    const started = performance.now()
    const result = await client.call("node", "NodePublishVolume", call.request)
    const unreadable = isTransportError(result.details)
    if (unreadable) {
      client.close()
      client = new CsiClient(kubelet.csi.socket)
    }
    answers.push({
      call: { kind: call.kind, bytes: call.bytes },
      ms: performance.now() - started,
      code: result.code,
      messageBytes: Buffer.byteLength(result.details),
      unreadable,
    })
  }
  client.close()
  return answers
}

/** The driver gives memory back `quietAfter` after the last call (observability/housekeeping.ts). */
const releaseWaitMs = Duration.toMillis(quietAfter) + 2000

/** The driver's `process.memoryUsage()`, bytes. */
interface DriverMemory {
  readonly rss: number
  readonly heapTotal: number
  readonly heapUsed: number
  readonly external: number
  readonly arrayBuffers: number
}

const settled = async (inspector: Inspector, pid: number) => {
  await sleep(releaseWaitMs)
  await inspector.heapAfterGc()
  const usage = await inspector.evaluate<DriverMemory>("process.memoryUsage()")
  return { usage, rssMiB: memoryOf(pid).rssMiB }
}

const inMiB = (bytes: number) => bytes / mib

export interface BadInputOptions {
  readonly plainNode?: boolean
  readonly count?: number
}

export const badInput = async (options: BadInputOptions = {}): Promise<Table> => {
  const count = options.count ?? calls
  const h = await startHarness({
    args: ["--use-token-request"],
    ...(options.plainNode === undefined ? {} : { plainNode: options.plainNode }),
  })
  const inspector = await openInspector(h.driver)
  try {
    // Warm up: the first calls compile the validation code paths.
    await sendBadCalls(h.kubelet, 200, count)
    const before = await settled(inspector, h.driver.pid)
    const answers = await sendBadCalls(h.kubelet, count)
    const peakMiB = memoryOf(h.driver.pid).peakMiB
    const after = await settled(inspector, h.driver.pid)
    const requests = await h.sandbox.stats()
    const small = summarize(answers.filter((a) => a.call.bytes <= budgetBytes).map((a) => a.ms))
    const all = summarize(answers.map((a) => a.ms))
    const wrongCodes = answers.filter((a) => a.code !== grpc.status.INVALID_ARGUMENT)
    const largest = answers.reduce((max, a) => Math.max(max, a.call.bytes), 0)
    const growth = (pick: (m: DriverMemory) => number) => inMiB(pick(after.usage) - pick(before.usage))
    const byKind = new Map<string, Array<number>>()
    for (const a of answers) byKind.set(a.call.kind, [...(byKind.get(a.call.kind) ?? []), a.ms])
    const figures: Array<Figure> = [
      { name: `answer p50, inputs ≤ 64 KiB (${small.count} calls)`, value: small.p50, unit: "ms" },
      { name: "answer p99, inputs ≤ 64 KiB", value: small.p99, unit: "ms", budget: atMost(20, "ms") },
      {
        name: `answer p50 / p99 / max, all (largest input ${(largest / 1024).toFixed(0)} KiB)`,
        value: `${all.p50.toFixed(1)} / ${all.p99.toFixed(1)} / ${all.max.toFixed(0)}`,
        unit: "ms",
      },
      { name: "answers other than INVALID_ARGUMENT", value: wrongCodes.length, budget: atMost(0) },
      {
        name: "answers the client could not read (oversized trailers)",
        value: answers.filter((a) => a.unreadable).length,
        budget: atMost(0),
      },
      {
        name: "longest status message",
        value: Math.max(...answers.map((a) => a.messageBytes)),
        unit: "bytes",
        budget: atMost(2048, "bytes"),
      },
      { name: "API requests made", value: requests.requestsTotal },
      {
        name: "driver VmRSS before → after (after GC)",
        value: `${before.rssMiB.toFixed(1)} → ${after.rssMiB.toFixed(1)}`,
        unit: "MiB",
      },
      {
        name: "driver VmRSS growth (after GC)",
        value: after.rssMiB - before.rssMiB,
        unit: "MiB",
        budget: atMost(10, "MiB"),
      },
      { name: "driver VmHWM (peak RSS) during the run", value: peakMiB, unit: "MiB" },
      {
        name: "V8 heap used before → after (after GC)",
        value: `${inMiB(before.usage.heapUsed).toFixed(1)} → ${inMiB(after.usage.heapUsed).toFixed(1)}`,
        unit: "MiB",
      },
      { name: "V8 heap used growth", value: growth((m) => m.heapUsed), unit: "MiB" },
      { name: "V8 heap total growth", value: growth((m) => m.heapTotal), unit: "MiB" },
      {
        name: "external + array buffers growth",
        value: growth((m) => m.external + m.arrayBuffers),
        unit: "MiB",
      },
    ]
    const kinds = [...byKind].map(
      ([kind, ms]) => `${kind} p50/p99 ${summarize(ms).p50.toFixed(1)}/${summarize(ms).p99.toFixed(1)} ms`,
    )
    return {
      title: `5. Bad input: ${count} invalid publishes of mixed kinds, one at a time${options.plainNode === true ? " (plain `node dist/main.js`)" : ""}`,
      figures,
      notes: [
        kinds.join("; "),
        ...(wrongCodes.length === 0
          ? []
          : [`first unexpected answer: ${wrongCodes[0]!.call.kind} → ${grpc.status[wrongCodes[0]!.code]}`]),
        `memory read ${releaseWaitMs / 1000} s after the last call (the driver gives memory back once quiet), after full GCs forced through the inspector`,
      ],
    }
  } finally {
    inspector.close()
    await h.close()
  }
}

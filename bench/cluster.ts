/**
 * What every group does to the driver: the e2e harness (sandbox, mount namespace,
 * built driver, kubelet stand-in), pods registered with the sandbox, timed
 * NodePublishVolume calls, and waiting for a line in the driver's JSON log.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { type Harness, seedAttributes, startHarness } from "../test/e2e/support.js"
import { nodeId } from "../test/support/driver-process.js"
import type { Pod } from "../test/support/kubelet.js"
import { sleep } from "./measure.js"

export const rsaAttributes: Record<string, string> = { ...seedAttributes }
export const ecdsaAttributes: Record<string, string> = {
  ...seedAttributes,
  "csi.cert-manager.io/key-algorithm": "ECDSA",
}

const namespace = "bench"

/** The driver as the DaemonSet runs it: info-level logs, the metrics server on. */
const productionArgs = ["--log-level=info", "--metrics-bind-address=127.0.0.1:0"]

export const withHarness = async <A>(use: (h: Harness) => Promise<A>): Promise<A> => {
  const h = await startHarness({ args: productionArgs })
  try {
    return await use(h)
  } finally {
    await h.close()
  }
}

/** Registers `count` running pods on the driver's node with the sandbox, as the scheduler would have. */
export const newPods = (h: Harness, prefix: string, count: number): Promise<ReadonlyArray<Pod>> =>
  Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const name = `${prefix}-${i}`
      // On the driver's node: its pod watch sees them, as it sees a real node's pods.
      const pod = await h.sandbox.registerPod({ namespace, name, nodeName: nodeId })
      return { name, namespace, uid: String(pod.metadata.uid) }
    }),
  )

/** One NodePublishVolume as kubelet makes it; resolves with the call's duration in ms, rejects unless OK. */
export const publishTimed = async (
  h: Harness,
  pod: Pod,
  attributes: Record<string, string>,
): Promise<number> => {
  const request = h.kubelet.publishRequest(pod, attributes)
  // Kubelet makes the volume's directory before it calls; not part of the driver's time.
  await fs.mkdir(path.dirname(request.target_path), { recursive: true })
  const started = performance.now()
  const result = await h.kubelet.csi.call("node", "NodePublishVolume", request)
  const elapsed = performance.now() - started
  if (!result.ok) throw new Error(`NodePublishVolume of ${pod.namespace}/${pod.name}: ${result.details}`)
  return elapsed
}

/** Publishes `pods` in waves of `wave` concurrent calls, each wave after the last has answered. */
export const publishInWaves = async (
  h: Harness,
  pods: ReadonlyArray<Pod>,
  attributes: Record<string, string>,
  wave: number,
): Promise<void> => {
  for (let first = 0; first < pods.length; first += wave) {
    await Promise.all(pods.slice(first, first + wave).map((pod) => publishTimed(h, pod, attributes)))
  }
}

/** NodeUnpublishVolume of each pod's volume, `wave` at a time; rejects unless every call is OK. */
export const unpublishInWaves = async (h: Harness, pods: ReadonlyArray<Pod>, wave: number): Promise<void> => {
  for (let first = 0; first < pods.length; first += wave) {
    await Promise.all(
      pods.slice(first, first + wave).map(async (pod) => {
        const request = h.kubelet.publishRequest(pod, {})
        const result = await h.kubelet.unpublish(request.volume_id, request.target_path)
        if (!result.ok)
          throw new Error(`NodeUnpublishVolume of ${pod.namespace}/${pod.name}: ${result.details}`)
      }),
    )
  }
}

/** Deletes the pods from the API, as happens once kubelet has unmounted their volumes. */
export const deletePods = async (h: Harness, pods: ReadonlyArray<Pod>): Promise<void> => {
  await Promise.all(pods.map((pod) => h.sandbox.deletePod(pod.namespace, pod.name)))
}

export interface LogLine {
  readonly message: string
  readonly timestamp: string
  readonly annotations?: Record<string, unknown>
}

const parseLine = (line: string): LogLine | undefined => {
  if (!line.startsWith("{")) return undefined
  try {
    return JSON.parse(line) as LogLine
  } catch {
    return undefined
  }
}

/** The first JSON log line of the running driver with this message; polls its output, reading each line once. */
export const waitForLog = async (h: Harness, message: string, timeoutMs: number): Promise<LogLine> => {
  const until = Date.now() + timeoutMs
  let done = 0
  while (Date.now() < until) {
    const output = h.driver.logs()
    const end = output.lastIndexOf("\n") + 1
    const found = output
      .slice(done, end)
      .split("\n")
      .map(parseLine)
      .find((line) => line?.message === message)
    if (found !== undefined) return found
    done = end
    await sleep(20)
  }
  throw new Error(`no "${message}" in the driver's log after ${timeoutMs} ms`)
}

/** A log annotation as a number (NaN when absent). */
export const annotation = (line: LogLine, key: string): number =>
  Number(line.annotations?.[key] ?? Number.NaN)

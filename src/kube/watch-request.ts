/**
 * A watch over the API server, as client-node's `Watch.watch` does it (same URL, same
 * authentication and pool, JSON lines to a callback, aborted after 30 s of silence), but
 * read straight from undici's Node stream. client-node goes through fetch: a web
 * ReadableStream turned back into a Node stream, then readline, and a timer cleared and
 * set again for every chunk; for the three events of each issuance that cost more CPU
 * than parsing them. The one thin adapter between undici's callbacks and ours.
 */
import { STATUS_CODES } from "node:http"
import type { KubeConfig } from "@kubernetes/client-node"
import { authorizedRequest, clusterUrl } from "./authorized-request.js"

/** A non-200 answer to the watch call; `statusCode` as client-node's Watch gives it. */
export class WatchRefused extends Error {
  constructor(readonly statusCode: number) {
    super(STATUS_CODES[statusCode] ?? `status ${statusCode}`)
  }
}

/** client-node's default: a watch silent this long is aborted (the informer then re-watches). */
export const watchSilenceMs = 30_000

/**
 * The longest line we buffer: a watch event is one object, and the API server's own
 * limit on an object is ~1.5 MiB of etcd value; past this the stream is broken.
 */
const maxLineChars = 8 * 1024 * 1024

export const openWatch = async (
  kubeConfig: KubeConfig,
  path: string,
  query: Readonly<Record<string, string | boolean | undefined>>,
  onEvent: (type: string, object: unknown) => void,
  onDone: (error: unknown) => void,
  silenceMs = watchSilenceMs,
): Promise<AbortController> => {
  const url = clusterUrl(kubeConfig, path)
  url.searchParams.set("watch", "true")
  for (const [key, value] of Object.entries(query))
    if (value !== undefined) url.searchParams.set(key, `${value}`)
  const { dispatcher, ...target } = await authorizedRequest(kubeConfig, "GET", url)

  const controller = new AbortController()
  let finished = false
  let lastData = performance.now()
  let timer: NodeJS.Timeout | undefined
  const finish = (error: unknown) => {
    if (finished) return
    finished = true
    clearTimeout(timer)
    controller.abort()
    onDone(error)
  }
  // One timer for the whole watch: when it fires early (data came since), it waits out the rest.
  const arm = (ms: number) => {
    timer = setTimeout(() => {
      const silent = performance.now() - lastData
      if (silent >= silenceMs)
        finish(new DOMException(`the watch was silent for ${silenceMs} ms`, "TimeoutError"))
      else arm(silenceMs - silent)
    }, ms)
    timer.unref()
  }
  arm(silenceMs)

  try {
    const response = await dispatcher.request({ ...target, method: "GET", signal: controller.signal })
    if (response.statusCode !== 200) {
      response.body.resume()
      finish(new WatchRefused(response.statusCode))
      return controller
    }
    lastData = performance.now()
    let pending = ""
    response.body.setEncoding("utf8")
    response.body.on("data", (chunk: string) => {
      lastData = performance.now()
      pending += chunk
      let start = 0
      for (let end = pending.indexOf("\n"); end !== -1; end = pending.indexOf("\n", start)) {
        const line = pending.slice(start, end)
        start = end + 1
        if (line.trim() !== "") deliver(line, onEvent)
        if (finished) return
      }
      pending = pending.slice(start)
      if (pending.length > maxLineChars)
        finish(new Error(`a watch event longer than ${maxLineChars} characters`))
    })
    response.body.on("error", finish)
    response.body.on("close", () => finish(null))
    response.body.on("end", () => finish(null))
  } catch (error) {
    finish(error)
  }
  return controller
}

/** A line that is not an event is skipped, as client-node skips it. */
const deliver = (line: string, onEvent: (type: string, object: unknown) => void) => {
  let event: unknown
  try {
    event = JSON.parse(line)
  } catch {
    return
  }
  if (typeof event === "object" && event !== null && "type" in event && typeof event.type === "string")
    onEvent(event.type, "object" in event ? event.object : undefined)
}

/**
 * A watch over the API server, as client-node's `Watch.watch` does it (same URL, same
 * authentication and pool, JSON lines to a callback, aborted after 30 s of silence), but
 * read straight from undici's dispatch callbacks. client-node goes through fetch: a web
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
 * Counted in bytes (the same as characters for JSON that is ASCII).
 */
const maxLineChars = 8 * 1024 * 1024

const newline = 0x0a

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
  // undici's abort of the request, once it has started.
  let abortRequest: ((reason: Error) => void) | undefined
  const finish = (error: unknown) => {
    if (finished) return
    finished = true
    clearTimeout(timer)
    controller.abort()
    onDone(error)
  }
  controller.signal.addEventListener("abort", () => {
    const reason = controller.signal.reason
    abortRequest?.(reason instanceof Error ? reason : new Error(String(reason)))
    finish(reason)
  })
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

  // The start of a line that has not ended yet, in the chunks it came in.
  let partial: Array<Buffer> = []
  let partialBytes = 0
  // A refusal's status, told once its body is read out, so the connection stays usable.
  let refused: WatchRefused | undefined
  // Straight on undici's dispatch: its `request` would put each chunk through a Node
  // Readable (and a string decoder) only for us to split it into lines again.
  dispatcher.dispatch(
    { ...target, method: "GET" },
    {
      onRequestStart: (request) => {
        abortRequest = (reason) => request.abort(reason)
        if (finished) request.abort(new DOMException("the watch was ended", "AbortError"))
      },
      onResponseStart: (_request, statusCode) => {
        if (statusCode < 200) return
        lastData = performance.now()
        if (statusCode !== 200) refused = new WatchRefused(statusCode)
      },
      onResponseData: (_request, chunk) => {
        if (finished || refused !== undefined) return
        lastData = performance.now()
        let start = 0
        for (let end = chunk.indexOf(newline); end !== -1; end = chunk.indexOf(newline, start)) {
          let line: string
          if (partial.length === 0) line = chunk.toString("utf8", start, end)
          else {
            partial.push(chunk.subarray(start, end))
            line = Buffer.concat(partial).toString("utf8")
            partial = []
            partialBytes = 0
          }
          start = end + 1
          if (line.trim() !== "") deliver(line, onEvent)
          if (finished) return
        }
        if (start < chunk.length) {
          partial.push(start === 0 ? chunk : chunk.subarray(start))
          partialBytes += chunk.length - start
          if (partialBytes > maxLineChars)
            finish(new Error(`a watch event longer than ${maxLineChars} characters`))
        }
      },
      onResponseEnd: () => finish(refused ?? null),
      onResponseError: (_request, error) => finish(refused ?? error),
    },
  )
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

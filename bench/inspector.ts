/**
 * A minimal Chrome DevTools Protocol client for the driver under test, started with
 * `--inspect=127.0.0.1:0`: forces a full garbage collection and reads
 * `process.memoryUsage()` inside the driver, so memory is compared after a GC
 * without the driver having any code for it. Node prints the inspector's address
 * on stderr ("Debugger listening on ws://…"), which the harness collects.
 */
import * as fs from "node:fs"
import type { DriverProcess } from "../test/support/driver-process.js"
import { sleep } from "./measure.js"

export interface DriverMemory {
  readonly rss: number
  readonly heapTotal: number
  readonly heapUsed: number
  readonly external: number
  readonly arrayBuffers: number
}

export interface Inspector {
  /** A full, compacting GC in the driver (HeapProfiler.collectGarbage). */
  readonly collectGarbage: () => Promise<void>
  /** `process.memoryUsage()` as the driver sees it, bytes. */
  readonly memoryUsage: () => Promise<DriverMemory>
  /** Writes a heap snapshot of the driver to `file` (a full GC comes first). */
  readonly heapSnapshot: (file: string) => Promise<void>
  readonly close: () => void
}

const addressOf = async (driver: DriverProcess, timeoutMs: number): Promise<string> => {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const match = /Debugger listening on (ws:\/\/\S+)/.exec(driver.logs())
    if (match !== null) return match[1]!
    await sleep(20)
  }
  throw new Error("the driver prints no inspector address: start it with NODE_OPTIONS=--inspect=127.0.0.1:0")
}

export const connectInspector = async (driver: DriverProcess, timeoutMs = 10_000): Promise<Inspector> => {
  const socket = new WebSocket(await addressOf(driver, timeoutMs))
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true })
    socket.addEventListener("error", () => reject(new Error("cannot connect to the driver's inspector")), {
      once: true,
    })
  })
  let nextId = 1
  const pending = new Map<number, (message: { result?: unknown; error?: { message: string } }) => void>()
  const listeners = new Set<(method: string, params: Record<string, unknown>) => void>()
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as {
      id?: number
      method?: string
      params?: Record<string, unknown>
      result?: unknown
      error?: { message: string }
    }
    if (message.id !== undefined) {
      pending.get(message.id)?.(message)
      pending.delete(message.id)
    } else if (message.method !== undefined) {
      for (const listener of listeners) listener(message.method, message.params ?? {})
    }
  })
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++
      pending.set(id, (message) =>
        message.error === undefined ? resolve(message.result) : reject(new Error(message.error.message)),
      )
      socket.send(JSON.stringify({ id, method, params }))
    })

  return {
    collectGarbage: async () => {
      // With an inspector attached, V8 keeps the last console messages (the driver's log
      // lines) for a debugger that may come: up to 1,000 of them. They are ours, not the driver's.
      await send("Runtime.discardConsoleEntries")
      await send("HeapProfiler.collectGarbage")
    },
    memoryUsage: async () => {
      const result = (await send("Runtime.evaluate", {
        expression: "JSON.stringify(process.memoryUsage())",
        returnByValue: true,
      })) as { result: { value: string } }
      return JSON.parse(result.result.value) as DriverMemory
    },
    heapSnapshot: async (file) => {
      const out = fs.openSync(file, "w")
      const onChunk = (method: string, params: Record<string, unknown>) => {
        if (method === "HeapProfiler.addHeapSnapshotChunk") fs.writeSync(out, String(params.chunk))
      }
      listeners.add(onChunk)
      try {
        await send("HeapProfiler.takeHeapSnapshot", { reportProgress: false })
      } finally {
        listeners.delete(onChunk)
        fs.closeSync(out)
      }
    },
    close: () => socket.close(),
  }
}

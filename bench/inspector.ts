/**
 * A running driver's V8 inspector, opened on demand. Drivers the bench starts get
 * `--inspect-port=0` (bench/run.ts): nothing listens until SIGUSR1, which makes Node
 * open the inspector on a free port and print its address on stderr. So the memory
 * figures read before it are undisturbed, and after it the bench can force a full GC,
 * read the heap in use, evaluate an expression, or write a heap snapshot.
 */
import { createWriteStream } from "node:fs"
import { writeFile } from "node:fs/promises"
import type { DriverProcess } from "../test/support/driver-process.js"
import { sleep } from "./measure.js"

export interface Inspector {
  /** A Chrome DevTools Protocol call; resolves with its result. */
  readonly send: (method: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>>
  /** Full (mark-compact) collections until the heap stops shrinking; the heap in use after, bytes. */
  readonly heapAfterGc: () => Promise<number>
  /** The value of a JavaScript expression in the driver's main context (must be JSON). */
  readonly evaluate: <A>(expression: string) => Promise<A>
  /** Writes a heap snapshot (it collects garbage first) to `file`. */
  readonly snapshot: (file: string) => Promise<void>
  /** Samples the driver's main thread while `during` runs; writes the .cpuprofile to `file`. */
  readonly profile: <A>(file: string, during: () => Promise<A>) => Promise<A>
  /**
   * Samples what the driver allocates while `during` runs; writes the .heapprofile to `file`.
   * With `survivors`, only what outlived the young generation (promoted, or still live).
   */
  readonly allocations: <A>(file: string, during: () => Promise<A>, survivors?: boolean) => Promise<A>
  readonly close: () => void
}

const listening = /Debugger listening on (ws:\/\/\S+)/g

/** The address the driver printed after `since` characters of its output, if any yet. */
const addressAfter = (driver: DriverProcess, since: number): string | undefined =>
  [...driver.logs().slice(since).matchAll(listening)].at(-1)?.[1]

export const openInspector = async (driver: DriverProcess, timeoutMs = 10_000): Promise<Inspector> => {
  // Once open, the inspector stays open (and SIGUSR1 prints nothing more): connect again.
  const since = driver.logs().length
  let address = addressAfter(driver, 0)
  if (address === undefined) process.kill(driver.pid, "SIGUSR1")
  const until = Date.now() + timeoutMs
  address ??= addressAfter(driver, since)
  while (address === undefined) {
    if (Date.now() > until)
      throw new Error("the driver did not open its inspector (started without --inspect-port=0?)")
    await sleep(20)
    address = addressAfter(driver, since)
  }
  const socket = new WebSocket(address)
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true })
    socket.addEventListener("error", () => reject(new Error(`cannot connect to ${address}`)), { once: true })
  })
  let nextId = 1
  const pending = new Map<
    number,
    { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }
  >()
  const listeners = new Map<string, (params: Record<string, unknown>) => void>()
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as {
      id?: number
      method?: string
      params?: Record<string, unknown>
      result?: Record<string, unknown>
      error?: { message: string }
    }
    if (message.id === undefined) {
      if (message.method !== undefined) listeners.get(message.method)?.(message.params ?? {})
      return
    }
    const call = pending.get(message.id)
    pending.delete(message.id)
    if (message.error !== undefined) call?.reject(new Error(message.error.message))
    else call?.resolve(message.result ?? {})
  })
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve, reject })
      socket.send(JSON.stringify({ id, method, params }))
    })
  const heapUsed = async () => Number((await send("Runtime.getHeapUsage")).usedSize)
  return {
    send,
    heapAfterGc: async () => {
      // One collection can leave garbage that only the next one finds (weak references,
      // finalizers); stop once a collection frees less than 1 KiB.
      // With a debugger attached, V8 keeps console messages (every log line) for it: not the driver's.
      await send("Runtime.discardConsoleEntries")
      let before = Number.POSITIVE_INFINITY
      for (let i = 0; i < 6; i++) {
        // The memory-reducing collection the driver's Housekeeping runs (the shebang exposes gc) also
        // clears V8's compilation cache and ages out unused code, as a heap snapshot's does; a plain
        // one left what start-up had compiled to be freed between two readings (±1-2 KB a volume).
        await send("Runtime.evaluate", {
          expression: `globalThis.gc?.({ type: "major", execution: "sync", flavor: "last-resort" })`,
        })
        await send("HeapProfiler.collectGarbage")
        const after = await heapUsed()
        if (before - after < 1024) return after
        before = after
      }
      return before
    },
    evaluate: async <A>(expression: string): Promise<A> => {
      const { result, exceptionDetails } = (await send("Runtime.evaluate", {
        expression,
        returnByValue: true,
        awaitPromise: true,
      })) as { result?: { value?: A }; exceptionDetails?: { text: string } }
      if (exceptionDetails !== undefined) throw new Error(`${expression}: ${exceptionDetails.text}`)
      return result?.value as A
    },
    snapshot: async (file) => {
      const out = createWriteStream(file)
      listeners.set("HeapProfiler.addHeapSnapshotChunk", (params) => out.write(String(params.chunk)))
      await send("HeapProfiler.takeHeapSnapshot", { reportProgress: false })
      listeners.delete("HeapProfiler.addHeapSnapshotChunk")
      await new Promise<void>((resolve, reject) =>
        out.end((error?: Error | null) => (error ? reject(error) : resolve())),
      )
    },
    profile: async (file, during) => {
      await send("Profiler.enable")
      await send("Profiler.setSamplingInterval", { interval: 100 })
      await send("Profiler.start")
      const result = await during()
      const { profile } = await send("Profiler.stop")
      await writeFile(file, JSON.stringify(profile))
      return result
    },
    allocations: async (file, during, survivors = false) => {
      // Every allocation, collected since or not, one sample per 4 KiB on average; or,
      // for `survivors`, what a scavenge did not collect: what makes the old generation grow.
      await send("HeapProfiler.startSampling", {
        samplingInterval: survivors ? 1024 : 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: !survivors,
      })
      const result = await during()
      const { profile } = await send("HeapProfiler.stopSampling")
      await writeFile(file, JSON.stringify(profile))
      return result
    },
    close: () => socket.close(),
  }
}

/** Runs `use` with the driver's inspector, and leaves it after: a driver with a debugger attached waits for it before it exits. */
export const withInspector = async <A>(
  driver: DriverProcess,
  use: (inspector: Inspector) => Promise<A>,
): Promise<A> => {
  const inspector = await openInspector(driver)
  try {
    return await use(inspector)
  } finally {
    inspector.close()
  }
}

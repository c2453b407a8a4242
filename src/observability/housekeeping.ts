/**
 * Gives memory back once the driver goes quiet after work (start-up, a burst of
 * publishes or unpublishes). V8 collects its old generation only when it grows into
 * its limit, so on a quiet node a burst's garbage stays resident: measured, 220 MiB a
 * minute after unpublishing 500 volumes, 128 MiB after one full collection. And glibc
 * keeps what was freed inside its heap: malloc_trim(3) then gave 20-27 MiB more back
 * (12 MiB right after start-up). So, once no publish or unpublish has run for
 * `quietAfter`: one memory-reducing full collection (V8's gc(), which the binary's
 * shebang exposes), then a trim through the native helper
 * (native/memory.c). One timer per busy period; nothing runs on an idle node.
 * Within a busy period, a plain collection once the heap has grown by
 * `collectAfterGrowth` (at most every `collectAtMostEvery`) keeps a burst's own peak down.
 */
import { getHeapStatistics, setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { Clock, Context, Duration, Effect, FiberHandle, Layer, Result } from "effect"
import { loadNativeHelper, nativeHelperPath } from "../native.js"

/** How long without work before memory is given back. */
export const quietAfter = Duration.seconds(5)

/**
 * Within a busy period, a plain full collection once the heap has grown this much over
 * the least it was at since the last one. V8 lets its old generation grow ~16 MiB past
 * the live heap before it collects, and a burst's calls in flight (each lives ~1 s among
 * 110 others) are promoted there: a 110-pod burst took the heap from 17 to 31 MiB,
 * nearly all garbage. One publish at a time leaves little there, and is not paused.
 */
export const collectAfterGrowth = 10 * 2 ** 20

/**
 * At most one such collection this often: a pause of 10-30 ms is worth it once in a burst,
 * not for every 10 MiB of large bad requests (V8's default young generation, under plain
 * `node`, fills that in a few calls: p99 of 10,000 bad publishes went 6 -> 22 ms).
 */
export const collectAtMostEvery = Duration.seconds(1)

/**
 * V8's gc(): the shebang passes --expose-gc; started as plain `node dist/main.js` the driver
 * exposes it for itself (V8 installs it in contexts made while the flag is on). Without it
 * the trim ran before V8 had freed a burst's garbage, and RSS after 10,000 bad publishes
 * grew 6-30 MiB from run to run.
 */
const gc: NodeJS.GCFunction | undefined = (() => {
  if (globalThis.gc !== undefined) return globalThis.gc
  try {
    setFlagsFromString("--expose-gc")
    const exposed: unknown = runInNewContext("gc")
    setFlagsFromString("--no-expose-gc")
    return typeof exposed === "function" ? (exposed as NodeJS.GCFunction) : undefined
  } catch {
    return undefined
  }
})()

/** Whether the driver can collect garbage when it chooses (false only where V8 refused the flag). */
export const canCollect = gc !== undefined

/** A full collection, started now; the driver goes on meanwhile. */
export const collectGarbage: Effect.Effect<void> = Effect.sync(() => {
  void gc?.({ type: "major", execution: "async" })
})

interface MemoryAddon {
  /** malloc_trim(0); true when pages were given back. */
  readonly trim: () => boolean
}

/** The helper, or why it did not load (not built, not glibc's Linux). */
export const loadMemoryAddon = (path = nativeHelperPath("memory")): Result.Result<MemoryAddon, string> =>
  Result.map(
    loadNativeHelper<{ readonly trim: () => unknown }>(path, ["trim"], "memory helper"),
    (addon) => ({
      trim: () => addon.trim() === true,
    }),
  )

const mib = (bytes: number) => Math.round(bytes / 2 ** 20)

/** One full collection that also shrinks V8's heap, then malloc_trim; logged at debug with the resident size before and after. */
export const releaseMemory = (addon: MemoryAddon | undefined): Effect.Effect<void> =>
  Effect.suspend(() => {
    const before = process.memoryUsage.rss()
    // "last-resort": V8's memory-reducing collection, which also returns empty pages; a plain one keeps them.
    gc?.({ type: "major", execution: "sync", flavor: "last-resort" })
    const trimmed = addon?.trim() ?? false
    return Effect.logDebug("gave memory back").pipe(
      Effect.annotateLogs({
        rssBeforeMiB: mib(before),
        rssAfterMiB: mib(process.memoryUsage.rss()),
        collected: gc !== undefined,
        trimmed,
      }),
    )
  })

export class Housekeeping extends Context.Service<
  Housekeeping,
  {
    /** Work was done (a publish, an unpublish): give memory back once quiet again. Cheap. */
    readonly worked: Effect.Effect<void>
  }
>()("csi/Housekeeping") {
  /** `release` replaces what is done once quiet, `collect` the collection within a busy period and `heapUsed` its measure (tests). */
  static readonly make = (
    release: Effect.Effect<void>,
    collect: Effect.Effect<void> = collectGarbage,
    heapUsed: () => number = () => getHeapStatistics().used_heap_size,
  ) =>
    Effect.gen(function* () {
      const waiting = yield* FiberHandle.make<void>()
      let lastWork = yield* Clock.currentTimeMillis
      let least = Number.POSITIVE_INFINITY
      let lastCollection = Number.NEGATIVE_INFINITY
      const spacingMillis = Duration.toMillis(collectAtMostEvery)
      const quietMillis = Duration.toMillis(quietAfter)
      // Sleeps until `quietAfter` has passed since the last work, however much came meanwhile;
      // work that slips in while this fiber ends is waited for too.
      const releaseWhenQuiet = Effect.gen(function* () {
        while (true) {
          const seen = lastWork
          const quiet = (yield* Clock.currentTimeMillis) - seen
          if (quiet < quietMillis) {
            yield* Effect.sleep(Duration.millis(quietMillis - quiet))
            continue
          }
          yield* release
          if (lastWork === seen) return
        }
      })
      const worked = Effect.gen(function* () {
        lastWork = yield* Clock.currentTimeMillis
        const used = heapUsed()
        least = Math.min(least, used)
        if (used - least >= collectAfterGrowth && lastWork - lastCollection >= spacingMillis) {
          least = Number.POSITIVE_INFINITY
          lastCollection = lastWork
          yield* collect
        }
        yield* FiberHandle.run(waiting, releaseWhenQuiet, { onlyIfMissing: true })
      })
      // Start-up (modules, layers, recovery) is the first work.
      yield* worked
      return Housekeeping.of({ worked })
    })

  static readonly layer = Layer.effect(
    Housekeeping,
    Effect.suspend(() => Housekeeping.make(releaseMemory(Result.getOrUndefined(loadMemoryAddon())))),
  )
}

/**
 * Gives the C heap's free memory back to the kernel after major garbage collections,
 * through the native helper native/memory.c (glibc's malloc_trim).
 *
 * Why: every request's bytes pass through C memory (HTTP/2 frames, the message
 * buffers, strings), freed when V8 collects their owners. glibc returns only free
 * memory at the top of its heap, so a burst left the driver bigger for good: after
 * 1,000 malformed publishes and a forced GC, glibc held ~50 MiB of heap with 7 MiB
 * in use (measured with malloc_stats; a bare grpc-js server answering the same calls
 * kept 14 MiB more the same way). A major GC is when freed memory appears, so a trim
 * follows one, once the sweeping has settled, at most every few seconds. Where the
 * helper cannot load (not built, another libc) nothing happens.
 */
import { constants, PerformanceObserver } from "node:perf_hooks"
import { Duration, Effect, Layer, Predicate, Queue, Result } from "effect"
import { loadNativeHelper, nativeHelperPath } from "../native.js"

interface MemoryAddon {
  /** Runs malloc_trim(0) on the threadpool; true when memory was returned. */
  readonly trim: () => Promise<boolean>
}

/** The helper, or why it did not load. */
export const loadMemoryAddon = (
  path: string = nativeHelperPath("memory"),
): Result.Result<MemoryAddon, string> => loadNativeHelper<MemoryAddon>(path, ["trim"], "memory helper")

/** After a major GC, V8 still sweeps and frees array buffers for a while. */
const settle = Duration.seconds(1)
/** The most often a trim runs (each walks the whole C heap). */
const spacing = Duration.seconds(5)

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10

/** Trims after major GCs for as long as the driver runs. */
export const MemoryTrim = Layer.effectDiscard(
  Effect.gen(function* () {
    const loaded = loadMemoryAddon()
    if (Result.isFailure(loaded)) {
      return yield* Effect.logDebug("the memory helper did not load; C heap memory is not trimmed").pipe(
        Effect.annotateLogs({ reason: loaded.failure }),
      )
    }
    const addon = loaded.success
    const majorGcs = yield* Queue.sliding<void>(1)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const observer = new PerformanceObserver((list) => {
          const major = list.getEntries().some((entry) => {
            const detail: unknown = (entry as { readonly detail?: unknown }).detail
            return (
              Predicate.hasProperty(detail, "kind") && detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR
            )
          })
          if (major) Queue.offerUnsafe(majorGcs, undefined)
        })
        observer.observe({ entryTypes: ["gc"] })
        return observer
      }),
      (observer) => Effect.sync(() => observer.disconnect()),
    )
    const trim = Effect.gen(function* () {
      const before = process.memoryUsage.rss()
      const started = performance.now()
      const released = yield* Effect.promise(() => addon.trim())
      if (released) {
        yield* Effect.logDebug("returned free C heap memory to the kernel").pipe(
          Effect.annotateLogs({
            rssBeforeMiB: mib(before),
            rssAfterMiB: mib(process.memoryUsage.rss()),
            durationMs: Math.round((performance.now() - started) * 100) / 100,
          }),
        )
      }
    })
    yield* Effect.forkScoped(
      Effect.forever(
        Queue.take(majorGcs).pipe(
          Effect.andThen(Effect.sleep(settle)),
          Effect.andThen(trim),
          Effect.andThen(Effect.sleep(spacing)),
        ),
      ),
    )
  }),
)

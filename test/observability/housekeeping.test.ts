import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { TestClock } from "effect/testing"
import {
  canCollect,
  collectAfterGrowth,
  collectAtMostEvery,
  collectGarbage,
  Housekeeping,
  loadMemoryAddon,
  quietAfter,
  releaseMemory,
} from "../../src/observability/housekeeping.js"
import { packageFile } from "../../src/package-root.js"

/** A Housekeeping whose release and collection only count, over a heap the test sets. */
const counting = Effect.gen(function* () {
  let released = 0
  let collected = 0
  let heap = 20 * 2 ** 20
  const housekeeping = yield* Housekeeping.make(
    Effect.sync(() => {
      released++
    }),
    Effect.sync(() => {
      collected++
    }),
    () => heap,
  )
  const setHeap = (mib: number) => {
    heap = mib * 2 ** 20
  }
  return { housekeeping, released: () => released, collected: () => collected, setHeap }
})

describe("Housekeeping", () => {
  it.effect("gives memory back once, quietAfter after start-up", () =>
    Effect.gen(function* () {
      const { released } = yield* counting
      yield* TestClock.adjust("4999 millis")
      assert.strictEqual(released(), 0)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(released(), 1)
      // Nothing more on a quiet node.
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(released(), 1)
    }),
  )

  it.effect("waits until work has stopped for quietAfter, however long it goes on", () =>
    Effect.gen(function* () {
      const { housekeeping, released } = yield* counting
      for (let i = 0; i < 10; i++) {
        yield* TestClock.adjust("3 seconds")
        yield* housekeeping.worked
      }
      assert.strictEqual(released(), 0)
      yield* TestClock.adjust(quietAfter)
      assert.strictEqual(released(), 1)
    }),
  )

  it.effect("gives back again after each later burst", () =>
    Effect.gen(function* () {
      const { housekeeping, released } = yield* counting
      yield* TestClock.adjust(quietAfter)
      assert.strictEqual(released(), 1)
      yield* housekeeping.worked
      yield* housekeeping.worked
      yield* TestClock.adjust(quietAfter)
      assert.strictEqual(released(), 2)
    }),
  )

  it.effect(
    "collects when a busy period's heap has grown by collectAfterGrowth over its least, then measures again",
    () =>
      Effect.gen(function* () {
        const { housekeeping, collected, setHeap } = yield* counting
        const grow = collectAfterGrowth / 2 ** 20
        // Below the least seen plus the growth: nothing, however many calls.
        setHeap(18)
        yield* housekeeping.worked
        for (let i = 0; i < 100; i++) {
          setHeap(18 + (i % 5))
          yield* housekeeping.worked
        }
        assert.strictEqual(collected(), 0)
        setHeap(18 + grow)
        yield* housekeeping.worked
        assert.strictEqual(collected(), 1)
        yield* TestClock.adjust(collectAtMostEvery)
        // The next call starts the measure again from the heap it finds.
        setHeap(30)
        yield* housekeeping.worked
        setHeap(30 + grow - 1)
        yield* housekeeping.worked
        assert.strictEqual(collected(), 1)
        setHeap(30 + grow)
        yield* housekeeping.worked
        assert.strictEqual(collected(), 2)
      }),
  )

  it.effect("collects within a busy period at most once per collectAtMostEvery", () =>
    Effect.gen(function* () {
      const { housekeeping, collected, setHeap } = yield* counting
      const grow = collectAfterGrowth / 2 ** 20
      // The heap grows by the threshold with every call, 10 ms apart, for 2.5 s.
      for (let i = 0; i < 250; i++) {
        setHeap(18 + i * grow)
        yield* housekeeping.worked
        yield* TestClock.adjust("10 millis")
      }
      // On the first growth (the second call), then 1 s and 2 s later.
      assert.strictEqual(collected(), 3)
    }),
  )

  it.effect("collecting runs without --expose-gc (vitest): the driver exposes gc() for itself", () =>
    Effect.sync(() => {
      assert.isUndefined(globalThis.gc, "vitest's workers run without --expose-gc")
      assert.isTrue(canCollect)
    }).pipe(Effect.andThen(collectGarbage)),
  )

  it.effect("releasing runs without --expose-gc (vitest) and says so at debug", () =>
    releaseMemory(Result.getOrUndefined(loadMemoryAddon())),
  )
})

describe("the memory helper (native/memory.c)", () => {
  it("loads, and trims", () => {
    const addon = loadMemoryAddon()
    assert.isTrue(Result.isSuccess(addon), "npm run native builds build/Release/memory.node")
    if (Result.isSuccess(addon)) assert.isBoolean(addon.success.trim())
  })

  it("is refused where it was not built, or when the file is another addon", () => {
    assert.isTrue(Result.isFailure(loadMemoryAddon("/nonexistent/memory.node")))
    const other = loadMemoryAddon(packageFile("build/Release/mount.node"))
    assert.isTrue(Result.isFailure(other) && other.failure.includes("is not the memory helper"))
  })
})

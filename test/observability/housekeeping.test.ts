import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { TestClock } from "effect/testing"
import {
  collectEvery,
  collectGarbage,
  Housekeeping,
  loadMemoryAddon,
  quietAfter,
  releaseMemory,
} from "../../src/observability/housekeeping.js"
import { packageFile } from "../../src/package-root.js"

/** A Housekeeping whose release and collection only count. */
const counting = Effect.gen(function* () {
  let released = 0
  let collected = 0
  const housekeeping = yield* Housekeeping.make(
    Effect.sync(() => {
      released++
    }),
    Effect.sync(() => {
      collected++
    }),
  )
  return { housekeeping, released: () => released, collected: () => collected }
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

  it.effect("collects once per collectEvery calls within a busy period, and not at all on a quiet node", () =>
    Effect.gen(function* () {
      const { housekeeping, collected } = yield* counting
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(collected(), 0)
      for (let i = 1; i < collectEvery; i++) yield* housekeeping.worked
      assert.strictEqual(collected(), 0)
      yield* housekeeping.worked
      assert.strictEqual(collected(), 1)
      for (let i = 0; i < collectEvery; i++) yield* housekeeping.worked
      assert.strictEqual(collected(), 2)
    }),
  )

  it.effect("collecting runs without --expose-gc (vitest)", () => collectGarbage)

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

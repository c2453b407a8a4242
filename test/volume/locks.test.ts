/**
 * VolumeLocks: one operation per volume at a time, a deadline while waiting gives
 * VolumeBusy (and nothing of the waiting operation runs), different volumes run
 * in parallel, and a failed or interrupted holder releases the lock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { VolumeLocks } from "../../src/volume/locks.js"

/** Runs `body` under the lock of `volumeId`, recording when it starts and ends. */
const holder = (
  log: Array<string>,
  volumeId: string,
  name: string,
  gate: Deferred.Deferred<void>,
  deadline?: number,
) =>
  Effect.gen(function* () {
    const locks = yield* VolumeLocks
    return yield* locks.withLock(
      volumeId,
      deadline,
      Effect.sync(() => log.push(`${name} start`)).pipe(
        Effect.andThen(Deferred.await(gate)),
        Effect.andThen(Effect.sync(() => log.push(`${name} end`))),
      ),
    )
  })

/** Holder "a" has taken vol-1's lock and waits on `first`; `open` lets any other holder through at once. */
const heldByA = Effect.gen(function* () {
  const log: Array<string> = []
  const first = yield* Deferred.make<void>()
  const open = yield* Deferred.make<void>()
  yield* Deferred.succeed(open, undefined)
  const a = yield* Effect.forkChild(holder(log, "vol-1", "a", first))
  yield* Effect.yieldNow
  return { log, first, open, a }
})

describe("VolumeLocks", () => {
  it.effect("a second operation on a volume waits for the first", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const first = yield* Deferred.make<void>()
      const second = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(holder(log, "vol-1", "a", first))
      yield* Effect.yieldNow
      const b = yield* Effect.forkChild(holder(log, "vol-1", "b", second))
      yield* Deferred.succeed(second, undefined)
      yield* Effect.yieldNow
      yield* Effect.yieldNow
      assert.deepStrictEqual(log, ["a start"])
      yield* Deferred.succeed(first, undefined)
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      assert.deepStrictEqual(log, ["a start", "a end", "b start", "b end"])
    }).pipe(Effect.provide(VolumeLocks.layer)),
  )

  it.effect("a deadline reached while waiting gives VolumeBusy, and the operation never runs", () =>
    Effect.gen(function* () {
      const { log, first, open, a } = yield* heldByA
      const b = yield* Effect.forkChild(Effect.flip(holder(log, "vol-1", "b", open, 5_000)))
      yield* TestClock.adjust(4_999)
      assert.isUndefined(b.pollUnsafe())
      yield* TestClock.adjust(1)
      const error = yield* Fiber.join(b)
      assert.strictEqual(error._tag, "VolumeBusy")
      assert.strictEqual(error.volumeId, "vol-1")
      yield* Deferred.succeed(first, undefined)
      yield* Fiber.join(a)
      assert.deepStrictEqual(log, ["a start", "a end"])

      // The lock is free again, and the waiter that gave up holds no permit.
      const c = yield* Effect.exit(holder(log, "vol-1", "c", open, 10_000))
      assert.isTrue(Exit.isSuccess(c))
    }).pipe(Effect.provide(VolumeLocks.layer)),
  )

  it.effect("a waiter that gives up leaves the line: the next one gets the lock, and then it is free", () =>
    Effect.gen(function* () {
      const { log, first, open, a } = yield* heldByA
      const b = yield* Effect.forkChild(holder(log, "vol-1", "b", open))
      const c = yield* Effect.forkChild(holder(log, "vol-1", "c", open, 10_000))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(b)
      yield* Deferred.succeed(first, undefined)
      yield* Fiber.join(a)
      yield* Fiber.join(c)
      assert.deepStrictEqual(log, ["a start", "a end", "c start", "c end"])
      yield* holder(log, "vol-1", "d", open, 1_000)
      assert.deepStrictEqual(log.slice(-2), ["d start", "d end"])
    }).pipe(Effect.provide(VolumeLocks.layer)),
  )

  it.effect("different volumes run in parallel", () =>
    Effect.gen(function* () {
      const { log, first, open, a } = yield* heldByA
      yield* holder(log, "vol-2", "b", open, 1_000)
      assert.deepStrictEqual(log, ["a start", "b start", "b end"])
      yield* Deferred.succeed(first, undefined)
      yield* Fiber.join(a)
    }).pipe(Effect.provide(VolumeLocks.layer)),
  )

  it.effect("a failed or interrupted holder releases the lock", () =>
    Effect.gen(function* () {
      const locks = yield* VolumeLocks
      const failed = yield* Effect.exit(locks.withLock("vol-1", undefined, Effect.fail("boom")))
      assert.isTrue(Exit.isFailure(failed))
      const never = yield* Effect.forkChild(locks.withLock("vol-1", undefined, Effect.never))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(never)
      const after = yield* locks.withLock("vol-1", 1_000, Effect.succeed("ran"))
      assert.strictEqual(after, "ran")
    }).pipe(Effect.provide(VolumeLocks.layer)),
  )
})

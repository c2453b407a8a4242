/**
 * The renewal schedule's parts: DueQueue keeps keys in due order through sets, moves
 * and deletes (checked against a sorted reference), and a Timetable's one fiber fires
 * each key at its time on TestClock, wakes for a new earlier key, sleeps past a day,
 * and never fires a deleted key.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
import { DueQueue } from "../../src/volume/due-queue.js"
import { makeTimetable } from "../../src/volume/timetable.js"

/** Takes every key off the queue, earliest first. */
const drain = (queue: DueQueue) => {
  const order: Array<{ key: string; at: number }> = []
  for (let head = queue.peek(); head !== undefined; head = queue.peek()) {
    order.push(head)
    queue.delete(head.key)
  }
  return order
}

describe("DueQueue", () => {
  it("keeps keys in due order through sets, moves and deletes", () => {
    let seed = 7
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    const queue = new DueQueue()
    const reference = new Map<string, number>()
    for (let step = 0; step < 5000; step++) {
      const key = `v${Math.floor(random() * 300)}`
      if (random() < 0.3) {
        assert.strictEqual(queue.delete(key), reference.delete(key))
      } else {
        const at = Math.floor(random() * 1_000_000)
        queue.set(key, at)
        reference.set(key, at)
      }
      assert.strictEqual(queue.size, reference.size)
    }
    for (const [key, at] of reference) assert.strictEqual(queue.at(key), at)
    const drained = drain(queue)
    assert.deepStrictEqual(
      drained.map((entry) => entry.at),
      [...reference.values()].sort((a, b) => a - b),
    )
    assert.strictEqual(queue.size, 0)
    assert.isUndefined(queue.peek())
  })
})

describe("Timetable", () => {
  /** A timetable that records which key fired when. */
  const recording = Effect.gen(function* () {
    const fired: Array<{ key: string; at: number }> = []
    const table = yield* makeTimetable((key) =>
      Effect.map(Clock.currentTimeMillis, (at) => {
        fired.push({ key, at })
      }),
    )
    return { table, fired }
  })

  it.effect("fires each of many keys at its time, in order, with one fiber", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { table, fired } = yield* recording
        const start = yield* Clock.currentTimeMillis
        // 1,000 keys, set out of order, a second apart; every tenth is deleted.
        const times = new Map<string, number>()
        for (let i = 0; i < 1000; i++) {
          const n = (i * 389) % 1000
          times.set(`v${n}`, start + (n + 1) * 1000)
          table.set(`v${n}`, start + (n + 1) * 1000)
        }
        for (let n = 0; n < 1000; n += 10) {
          assert.isTrue(table.delete(`v${n}`))
          times.delete(`v${n}`)
        }
        yield* TestClock.adjust(Duration.millis(500_500))
        assert.strictEqual(fired.length, 450)
        yield* TestClock.adjust(Duration.seconds(500))
        assert.deepStrictEqual(
          fired,
          [...times].map(([key, at]) => ({ key, at })).sort((a, b) => a.at - b.at),
        )
        assert.strictEqual(table.size(), 0)
      }),
    ),
  )

  it.effect(
    "a key set earlier than the one it sleeps for wakes it; a moved key fires once, at its new time",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { table, fired } = yield* recording
          const start = yield* Clock.currentTimeMillis
          table.set("late", start + 3_600_000)
          yield* Effect.yieldNow
          table.set("early", start + 60_000)
          table.set("moved", start + 120_000)
          table.set("moved", start + 7_200_000)
          yield* TestClock.adjust(Duration.minutes(1))
          assert.deepStrictEqual(fired, [{ key: "early", at: start + 60_000 }])
          yield* TestClock.adjust(Duration.hours(2))
          assert.deepStrictEqual(
            fired.map((entry) => entry.key),
            ["early", "late", "moved"],
          )
          assert.strictEqual(fired[2]?.at, start + 7_200_000)
        }),
      ),
  )

  it.effect("a key months ahead fires on time (the fiber naps a day at most); a past key fires at once", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { table, fired } = yield* recording
        const start = yield* Clock.currentTimeMillis
        const at = start + Duration.toMillis(Duration.days(90)) + 1234
        table.set("far", at)
        yield* TestClock.adjust(Duration.days(90))
        assert.deepStrictEqual(fired, [])
        yield* TestClock.adjust(Duration.seconds(2))
        assert.deepStrictEqual(fired, [{ key: "far", at }])
        table.set("past", start)
        yield* Effect.yieldNow
        yield* TestClock.adjust(0)
        assert.deepStrictEqual(fired.at(-1)?.key, "past")
      }),
    ),
  )

  it.effect("a key that fails to fire does not stop the others", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fired: Array<string> = []
        const table = yield* makeTimetable((key) =>
          key === "bad" ? Effect.die(new Error("boom")) : Effect.sync(() => void fired.push(key)),
        )
        const start = yield* Clock.currentTimeMillis
        table.set("bad", start + 1000)
        table.set("good", start + 2000)
        yield* TestClock.adjust(Duration.seconds(3))
        assert.deepStrictEqual(fired, ["good"])
      }),
    ),
  )
})

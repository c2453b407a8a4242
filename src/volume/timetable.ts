/**
 * Many timers, one fiber: keys wait in a DueQueue, and a single fiber sleeps on Effect's
 * Clock (so TestClock drives it) until the earliest is due, then hands each due key to
 * `fire`, which must not block (it forks what it starts). Setting a key earlier than the
 * head wakes the fiber to sleep again; deleting a key is synchronous, so a key deleted
 * before it fires never fires. A thousand idle volumes cost a thousand heap slots, not a
 * thousand parked fibers with their timers and contexts.
 */
import { Clock, Deferred, Duration, Effect, type Scope } from "effect"
import { DueQueue } from "./due-queue.js"

/** Long sleeps wake daily to re-read the clock, so suspend or clock steps cannot make a timer late. */
const maxNap = Duration.toMillis(Duration.days(1))

export interface Timetable {
  /** Fires `key` at `at` (epoch ms; at once if past), replacing the key's earlier time. */
  readonly set: (key: string, at: number) => void
  /** The key will not fire (unless set again); whether it was waiting. */
  readonly delete: (key: string) => boolean
  readonly has: (key: string) => boolean
  readonly size: () => number
}

export const makeTimetable = <R>(
  fire: (key: string) => Effect.Effect<void, never, R>,
): Effect.Effect<Timetable, never, Scope.Scope | R> =>
  Effect.gen(function* () {
    const queue = new DueQueue()
    let wake = Deferred.makeUnsafe<void>()
    /**
     * When the fiber wakes next on its own (infinite while it waits for a key): only a key due
     * earlier needs a wake-up. A later key, or a deleted head, waits for that wake-up, which
     * looks again; so keys set in due order (a renewal, a publish's deadline) wake nothing.
     */
    let wakesAt = Number.POSITIVE_INFINITY

    const loop = Effect.gen(function* () {
      while (true) {
        const head = queue.peek()
        const now = yield* Clock.currentTimeMillis
        if (head !== undefined && head.at <= now) {
          queue.delete(head.key)
          // One key's trouble must not stop the timers of all the others.
          yield* fire(head.key).pipe(
            Effect.catchCause((cause) => Effect.logError("timer did not fire", cause)),
          )
          continue
        }
        const woken = wake
        const nap = head === undefined ? Number.POSITIVE_INFINITY : Math.min(head.at - now, maxNap)
        wakesAt = now + nap
        yield* head === undefined
          ? Deferred.await(woken)
          : Effect.raceFirst(Effect.sleep(nap), Deferred.await(woken))
        // Woken by a new head: the next wake-up needs a fresh signal.
        if (Deferred.isDoneUnsafe(woken)) wake = Deferred.makeUnsafe<void>()
      }
    })
    yield* Effect.forkScoped(loop)

    return {
      set: (key, at) => {
        queue.set(key, at)
        // Only a time before the fiber's own wake-up shortens its sleep.
        if (at < wakesAt) {
          wakesAt = at
          Deferred.doneUnsafe(wake, Effect.void)
        }
      },
      delete: (key) => queue.delete(key),
      has: (key) => queue.has(key),
      size: () => queue.size,
    }
  })

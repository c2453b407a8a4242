/**
 * Client-side rate limit for API requests (`--kube-api-qps`, `--kube-api-burst`),
 * as client-go's token bucket does it, written as GCRA: each request books the
 * next slot, waiting only when more than `burst` requests are ahead of the rate.
 * Time comes from Effect's Clock, so tests drive it with TestClock.
 */
import { Clock, Effect, Ref } from "effect"

export interface RateLimiter {
  /** Waits, if needed, until one more request fits the rate. */
  readonly take: Effect.Effect<void>
}

export const makeRateLimiter = (qps: number, burst: number): Effect.Effect<RateLimiter> =>
  Effect.gen(function* () {
    const interval = 1000 / qps
    const tolerance = (Math.max(1, burst) - 1) * interval
    // Theoretical arrival time of the next request that would be exactly on rate.
    const tat = yield* Ref.make(0)
    const take = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const wait = yield* Ref.modify(tat, (current) => {
        const start = Math.max(current, now)
        const delay = Math.max(0, start - tolerance - now)
        return [delay, start + interval] as const
      })
      if (wait > 0) yield* Effect.sleep(wait)
    })
    return { take }
  })

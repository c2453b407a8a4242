/**
 * Exponential backoff with a ceiling and jitter, the one retry shape the driver
 * uses (re-listing after API errors, retrying a failed renewal).
 */
import { Duration, Effect, Schedule } from "effect"

export const cappedBackoff = (base: Duration.Input, cap: Duration.Input) => {
  const ceiling = Duration.fromInputUnsafe(cap)
  return Schedule.exponential(base, 2).pipe(
    Schedule.modifyDelay((step) => Effect.succeed(Duration.min(step.duration, ceiling))),
    Schedule.jittered,
  )
}

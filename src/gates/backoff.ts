/**
 * How often a volume waiting on its readiness gates looks again when no pod change
 * woke it: upstream's `--gate-backoff-*` flags with k8s wait.Backoff's meaning. Step n
 * waits `duration × factor^n`, held at `cap` once it reaches it (cap 0: no cap), plus
 * a random extra of up to `jitter` × that. The pod watch wakes a waiter at once;
 * this is only the fallback.
 */
import { Duration } from "effect"

export interface GateBackoff {
  readonly duration: Duration.Duration
  readonly factor: number
  readonly jitter: number
  /** Undefined: no cap (`--gate-backoff-cap=0`). */
  readonly cap: Duration.Duration | undefined
}

/** A timer cannot sleep longer (an uncapped backoff reaches this after about 17 steps). */
const longest = Duration.toMillis(Duration.days(1))

export const defaultGateBackoff: GateBackoff = {
  duration: Duration.seconds(1),
  factor: 2,
  jitter: 0.5,
  cap: Duration.seconds(10),
}

/** The wait before look `step` (0-based); `random` in [0, 1) picks the jitter. */
export const gateDelay = (backoff: GateBackoff, step: number, random: number): Duration.Duration => {
  const base = Duration.toMillis(backoff.duration)
  // wait.Backoff leaves the duration as it is when the factor is 0.
  const grown = backoff.factor === 0 ? base : base * backoff.factor ** step
  const capped = backoff.cap === undefined ? grown : Math.min(grown, Duration.toMillis(backoff.cap))
  const jittered = capped + (backoff.jitter > 0 ? random * backoff.jitter * capped : 0)
  return Duration.millis(Math.min(jittered, longest))
}

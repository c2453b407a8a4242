/**
 * When a certificate should be renewed: `renew-before` ahead of notAfter, else two
 * thirds into its lifetime (cert-manager's default), brought forward by a small
 * random jitter so the volumes of one node issued together do not renew in one burst.
 */
import { Duration } from "effect"

/** Jitter is at most this share of the lifetime, and never more than `maxJitter`. */
const jitterShare = 0.02
const maxJitter = Duration.minutes(10)

export interface Validity {
  readonly notBefore: Date
  readonly notAfter: Date
}

/** `random` is a number in [0, 1): the jitter's position within its bound. */
export const renewalTime = (
  validity: Validity,
  renewBefore: Duration.Duration | undefined,
  random: number,
): Date => {
  const start = validity.notBefore.getTime()
  const end = validity.notAfter.getTime()
  const lifetime = Math.max(0, end - start)
  // An issuer may shorten the lifetime below renew-before; fall back to 2/3 then, as cert-manager does.
  const before = renewBefore === undefined ? undefined : Duration.toMillis(renewBefore)
  const due = before === undefined || before >= lifetime ? start + (lifetime * 2) / 3 : end - before
  const jitter = jitterBound(validity) * random
  return new Date(Math.max(start, due - jitter))
}

export const jitterBound = (validity: Validity): number =>
  Math.min(
    (validity.notAfter.getTime() - validity.notBefore.getTime()) * jitterShare,
    Duration.toMillis(maxJitter),
  )

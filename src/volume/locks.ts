/**
 * Serialises operations on one volume id while different volumes run in parallel:
 * a semaphore per id, reference-counted by RcMap so idle ids cost nothing. A second
 * publish of the same volume waits for the first instead of racing it (upstream's
 * empty-mount bug); if it cannot get the lock before its deadline it answers ABORTED.
 */
import { Clock, Context, Duration, Effect, Layer, RcMap, Semaphore } from "effect"
import { VolumeBusy } from "./errors.js"

export class VolumeLocks extends Context.Service<
  VolumeLocks,
  {
    /** Runs `effect` holding the volume's lock; gives up with VolumeBusy at `deadline` (epoch ms). */
    readonly withLock: <A, E, R>(
      volumeId: string,
      deadline: number | undefined,
      effect: Effect.Effect<A, E, R>,
    ) => Effect.Effect<A, E | VolumeBusy, R>
  }
>()("csi/VolumeLocks") {
  static readonly layer = Layer.effect(
    VolumeLocks,
    Effect.gen(function* () {
      const locks = yield* RcMap.make({ lookup: (_: string) => Semaphore.make(1) })
      const withLock = <A, E, R>(
        volumeId: string,
        deadline: number | undefined,
        effect: Effect.Effect<A, E, R>,
      ) =>
        Effect.scoped(
          Effect.gen(function* () {
            const lock = yield* RcMap.get(locks, volumeId)
            const now = yield* Clock.currentTimeMillis
            const wait = Semaphore.take(lock, 1)
            const acquire =
              deadline === undefined
                ? wait
                : wait.pipe(
                    Effect.timeoutOrElse({
                      duration: Duration.millis(Math.max(0, deadline - now)),
                      orElse: () => Effect.fail(new VolumeBusy({ volumeId })),
                    }),
                  )
            // Once the permit is ours, its release is registered before anything can interrupt.
            yield* Effect.acquireRelease(acquire, () => Semaphore.release(lock, 1), { interruptible: true })
            return yield* effect
          }),
        )
      return VolumeLocks.of({ withLock })
    }),
  )
}

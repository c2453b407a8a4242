/**
 * Serialises operations on one volume id while different volumes run in parallel:
 * a lock per id, first come first served, kept only while it is held (idle ids cost
 * nothing). A second publish of the same volume waits for the first instead of racing
 * it (upstream's empty-mount bug); if it cannot get the lock before its deadline it
 * answers ABORTED.
 *
 * Every publish and unpublish takes a lock nobody holds: that case is a map lookup and
 * one finalizer, with no scope, no fiber and no timer. Only a waiter races its deadline.
 */
import { Clock, Context, Deferred, Duration, Effect, Exit, Layer } from "effect"
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
  static readonly layer = Layer.sync(VolumeLocks, () => {
    /** The held locks, each with its waiters in order of arrival; a free lock has no entry. */
    const held = new Map<string, Array<Deferred.Deferred<void>>>()

    /** Hands the lock to the next waiter, or frees it. */
    const release = (volumeId: string): undefined => {
      const waiters = held.get(volumeId)
      if (waiters === undefined) return
      const next = waiters.shift()
      if (next === undefined) held.delete(volumeId)
      else Deferred.doneUnsafe(next, Exit.void)
    }

    /** A waiter that gave up (deadline, interrupt) leaves the line, or passes on a lock handed to it meanwhile. */
    const leave = (volumeId: string, turn: Deferred.Deferred<void>) => {
      if (Deferred.isDoneUnsafe(turn)) return release(volumeId)
      const waiters = held.get(volumeId)
      const at = waiters?.indexOf(turn) ?? -1
      if (at >= 0) waiters?.splice(at, 1)
    }

    const withLock = <A, E, R>(
      volumeId: string,
      deadline: number | undefined,
      effect: Effect.Effect<A, E, R>,
    ) =>
      // Uninterruptible from taking the lock to registering its release; `effect` itself stays interruptible.
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend((): Effect.Effect<A, E | VolumeBusy, R> => {
          const holding = Effect.onExitPrimitive(restore(effect), () => release(volumeId), true)
          const waiters = held.get(volumeId)
          if (waiters === undefined) {
            held.set(volumeId, [])
            return holding
          }
          const turn = Deferred.makeUnsafe<void>()
          waiters.push(turn)
          const wait =
            deadline === undefined
              ? Deferred.await(turn)
              : Effect.flatMap(Clock.currentTimeMillis, (now) =>
                  Deferred.await(turn).pipe(
                    Effect.timeoutOrElse({
                      duration: Duration.millis(Math.max(0, deadline - now)),
                      orElse: () => Effect.fail(new VolumeBusy({ volumeId })),
                    }),
                  ),
                )
          return Effect.onExitPrimitive(restore(wait), (exit) =>
            Exit.isFailure(exit) ? leave(volumeId, turn) : undefined,
          ).pipe(Effect.andThen(holding))
        }),
      )
    return VolumeLocks.of({ withLock })
  })
}

/**
 * Keeps each volume's certificate current: one fiber per volume, in a FiberMap
 * keyed by volume id, that issues the first certificate, sleeps on Effect's Clock
 * until the renewal time, renews with `issue` unchanged, and retries failed
 * renewals with capped exponential backoff — never touching the working files.
 * Publish watches the volume's state to know when the first issuance settles.
 */
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  FiberMap,
  Layer,
  Option,
  Stream,
  SubscriptionRef,
} from "effect"
import { cappedBackoff } from "../backoff.js"
import { InternalError } from "./errors.js"
import { type Issuance, issue } from "./issue.js"
import { VolumeStore } from "./store.js"

export type IssueError = Effect.Error<ReturnType<typeof issue>>

export type VolumeState =
  | { readonly _tag: "Issuing" }
  | { readonly _tag: "Issued"; readonly issuance: Issuance }
  | { readonly _tag: "Failed"; readonly error: IssueError | InternalError }

export interface StartOptions {
  /**
   * Retry a failed first issuance in the background (the volume is mounted
   * already: --continue-on-not-ready, or recovered mounted). Otherwise the first
   * failure settles the volume as Failed and the publish that waits reports it.
   */
  readonly retryFirstIssuance: boolean
}

export const renewalBackoff = cappedBackoff("30 seconds", "5 minutes")

/** Long sleeps wake daily to re-read the clock, so suspend or clock steps cannot make a renewal late. */
const maxNap = Duration.days(1)

const sleepUntil = (iso: string) =>
  Effect.gen(function* () {
    const at = Date.parse(iso)
    while (true) {
      const now = yield* Clock.currentTimeMillis
      if (now >= at) return
      yield* Effect.sleep(Duration.min(Duration.millis(at - now), maxNap))
    }
  })

const isSettled = (state: VolumeState) => state._tag !== "Issuing"

export class Lifecycle extends Context.Service<
  Lifecycle,
  {
    /** Starts the volume's fiber unless it is running; a no-op for a running volume. */
    readonly start: (volumeId: string, options: StartOptions) => Effect.Effect<void>
    readonly state: (volumeId: string) => Effect.Effect<Option.Option<VolumeState>>
    /** Waits until the first issuance is done or failed; none when the volume is not started. */
    readonly awaitSettled: (volumeId: string) => Effect.Effect<Option.Option<VolumeState>>
    /** Stops the volume's fiber, interrupting an issuance in flight. */
    readonly stop: (volumeId: string) => Effect.Effect<void>
    readonly size: Effect.Effect<number>
  }
>()("csi/Lifecycle") {
  static readonly layer = Layer.effect(
    Lifecycle,
    Effect.gen(function* () {
      const context = yield* Effect.context<Effect.Services<ReturnType<typeof issue>> | VolumeStore>()
      const fibers = yield* FiberMap.make<string>()
      const states = new Map<string, SubscriptionRef.SubscriptionRef<VolumeState>>()

      const run = (
        volumeId: string,
        state: SubscriptionRef.SubscriptionRef<VolumeState>,
        options: StartOptions,
      ) =>
        Effect.gen(function* () {
          const store = yield* VolumeStore
          const stored = yield* store.read(volumeId)
          let issuance = Option.flatMapNullishOr(stored, (metadata) => metadata.issuance)
          if (Option.isNone(issuance)) {
            const first = issue(volumeId).pipe(
              Effect.tapError((error) => SubscriptionRef.set(state, { _tag: "Failed", error })),
            )
            const settled = options.retryFirstIssuance
              ? Effect.asSome(first.pipe(Effect.retry(renewalBackoff)))
              : Effect.option(first)
            issuance = yield* settled
            if (Option.isNone(issuance)) return
          }
          let current = issuance.value
          while (true) {
            yield* SubscriptionRef.set(state, { _tag: "Issued", issuance: current })
            yield* sleepUntil(current.nextIssuanceAt)
            yield* Effect.logInfo("renewing certificate")
            current = yield* issue(volumeId).pipe(
              Effect.tapError((error) => Effect.logWarning("renewal failed; retrying with backoff", error)),
              Effect.retry(renewalBackoff),
            )
            yield* Effect.logInfo("renewed certificate").pipe(
              Effect.annotateLogs({ notAfter: current.notAfter }),
            )
          }
        }).pipe(
          Effect.catchCause((cause) =>
            Cause.hasInterruptsOnly(cause)
              ? Effect.void
              : Effect.logError("volume lifecycle stopped", cause).pipe(
                  // A waiting publish must hear of it, not wait out its deadline.
                  Effect.andThen(
                    SubscriptionRef.set(state, { _tag: "Failed", error: new InternalError({ volumeId }) }),
                  ),
                ),
          ),
          Effect.annotateLogs({ volumeId }),
          Effect.provide(context),
        )

      const start = (volumeId: string, options: StartOptions) =>
        Effect.gen(function* () {
          if (yield* FiberMap.has(fibers, volumeId)) return
          const state = yield* SubscriptionRef.make<VolumeState>({ _tag: "Issuing" })
          states.set(volumeId, state)
          yield* FiberMap.run(fibers, volumeId, run(volumeId, state, options), { onlyIfMissing: true })
        })

      const awaitSettled = (volumeId: string) =>
        Effect.gen(function* () {
          const state = states.get(volumeId)
          if (state === undefined) return Option.none<VolumeState>()
          return yield* SubscriptionRef.changes(state).pipe(Stream.filter(isSettled), Stream.runHead)
        })

      return Lifecycle.of({
        start,
        state: (volumeId) =>
          Effect.suspend(() => {
            const state = states.get(volumeId)
            return state === undefined ? Effect.succeedNone : Effect.asSome(SubscriptionRef.get(state))
          }),
        awaitSettled,
        stop: (volumeId) =>
          FiberMap.remove(fibers, volumeId).pipe(Effect.andThen(Effect.sync(() => states.delete(volumeId)))),
        size: FiberMap.size(fibers),
      })
    }),
  )
}

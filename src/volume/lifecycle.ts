/**
 * Keeps each volume's certificate current: one fiber per volume, in a FiberMap
 * keyed by volume id, that issues the first certificate, sleeps on Effect's Clock
 * until the renewal time, renews with `issue` unchanged, and retries failed
 * renewals with capped exponential backoff — never touching the working files.
 * Every issuance first waits for the pod's readiness gates (`awaitReadiness`).
 * Publish watches the volume's state to know when the first issuance settles. A volume
 * whose pod is gone is retired: stopped for good, so no republish or recovery revives it.
 */
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Fiber,
  FiberMap,
  Layer,
  Option,
  Stream,
  SubscriptionRef,
} from "effect"
import type { PodInfo } from "../attributes/spec.js"
import { cappedBackoff } from "../backoff.js"
import { CertificateRequests } from "../kube/certificate-requests.js"
import { PodEvents } from "../kube/events.js"
import {
  issuanceTook,
  issueAttempt,
  outcomeOfError,
  renewalFailed,
  renewed,
  type VolumeSummary,
} from "../observability/metrics.js"
import { InternalError, PodGone } from "./errors.js"
import { type Issuance, issue } from "./issue.js"
import { awaitReadiness } from "./readiness.js"
import { VolumeStore } from "./store.js"

export type IssueError = Effect.Error<ReturnType<typeof issue>>

export type VolumeState =
  | { readonly _tag: "Issuing" }
  | { readonly _tag: "Issued"; readonly issuance: Issuance }
  | { readonly _tag: "Failed"; readonly error: IssueError | InternalError | PodGone }

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

/** One issuance once the pod is ready for it, counted by outcome and timed from the request. */
const attempt = (volumeId: string, kind: "first" | "renewal") =>
  Effect.gen(function* () {
    yield* awaitReadiness(volumeId)
    const started = yield* Clock.currentTimeMillis
    const issuance = yield* issue(volumeId).pipe(
      Effect.tapError((error) => issueAttempt(outcomeOfError(error._tag))),
    )
    yield* issueAttempt("issued")
    yield* issuanceTook(kind, (yield* Clock.currentTimeMillis) - started)
    return issuance
  })

/** Seconds of pending after which the pod gets an event saying what it waits for. */
const pendingNoticeAfter = Duration.seconds(10)
const pendingNoticeEvery = Duration.minutes(1)

/** Tells the pod, while its first certificate is pending, which request and issuer it waits on. */
const pendingNotice = (volumeId: string, pod: PodInfo) =>
  Effect.gen(function* () {
    const store = yield* VolumeStore
    const requests = yield* CertificateRequests
    const events = yield* PodEvents
    yield* Effect.sleep(pendingNoticeAfter)
    while (true) {
      const metadata = yield* store.read(volumeId).pipe(Effect.orElseSucceed(() => Option.none()))
      const pending = Option.flatMapNullishOr(metadata, (m) => m.pendingRequest)
      const issuer = Option.match(metadata, {
        onNone: () => "",
        onSome: (m) => m.attributes["csi.cert-manager.io/issuer-name"] ?? "",
      })
      const message = Option.isSome(pending)
        ? `waiting for issuer ${issuer} to sign CertificateRequest ${pending.value.namespace}/${pending.value.name}: ${yield* requests.describe(pending.value)}`
        : `waiting to create a CertificateRequest for issuer ${issuer}`
      yield* events.record(pod, { type: "Warning", reason: "IssuancePending", message })
      yield* Effect.sleep(pendingNoticeEvery)
    }
  })

const firstIssuance = (
  volumeId: string,
  pod: PodInfo,
  state: SubscriptionRef.SubscriptionRef<VolumeState>,
  options: StartOptions,
) =>
  Effect.gen(function* () {
    const events = yield* PodEvents
    // A volume held back by its gates says so itself; the pending notice is for the issuer's part.
    yield* awaitReadiness(volumeId)
    const notice = yield* Effect.forkChild(pendingNotice(volumeId, pod))
    const first = attempt(volumeId, "first").pipe(
      // The event goes first: the waiting publish removes the volume as soon as it sees Failed.
      Effect.tapError((error) =>
        events
          .record(pod, {
            type: "Warning",
            reason: error._tag === "RequestDenied" ? "IssuanceDenied" : "IssuanceFailed",
            message: error.message,
          })
          .pipe(Effect.andThen(SubscriptionRef.set(state, { _tag: "Failed", error }))),
      ),
    )
    const settled = options.retryFirstIssuance
      ? Effect.asSome(first.pipe(Effect.retry(renewalBackoff)))
      : Effect.option(first)
    return yield* settled.pipe(Effect.ensuring(Fiber.interrupt(notice)))
  })

/** Renews until it works, backing off between failures; the working files stay in place throughout. */
const renew = (volumeId: string, pod: PodInfo) =>
  Effect.gen(function* () {
    const events = yield* PodEvents
    yield* Effect.logInfo("renewing certificate")
    const renewed_ = yield* attempt(volumeId, "renewal").pipe(
      Effect.tapError((error) =>
        Effect.logWarning("renewal failed; retrying with backoff").pipe(
          Effect.annotateLogs({ error: error.message }),
          Effect.andThen(renewalFailed),
          Effect.andThen(
            events.record(pod, { type: "Warning", reason: "RenewalFailed", message: error.message }),
          ),
        ),
      ),
      Effect.retry(renewalBackoff),
    )
    yield* renewed
    yield* Effect.logInfo("renewed certificate").pipe(Effect.annotateLogs({ notAfter: renewed_.notAfter }))
    yield* events.record(pod, {
      type: "Normal",
      reason: "Renewed",
      message: `certificate renewed; valid until ${renewed_.notAfter}, next renewal at ${renewed_.nextIssuanceAt}`,
    })
    return renewed_
  })

export class Lifecycle extends Context.Service<
  Lifecycle,
  {
    /** Starts the volume's fiber unless it is running; a no-op for a running volume. */
    readonly start: (volumeId: string, options: StartOptions) => Effect.Effect<void>
    readonly state: (volumeId: string) => Effect.Effect<Option.Option<VolumeState>>
    /** Waits until the first issuance is done or failed; none when the volume is not started. */
    readonly awaitSettled: (volumeId: string) => Effect.Effect<Option.Option<VolumeState>>
    /** Stops the volume's fiber, interrupting an issuance in flight, and forgets the volume. */
    readonly stop: (volumeId: string) => Effect.Effect<void>
    /**
     * The volume's pod is gone: stops its fiber (a gate wait, an issuance in flight) and
     * keeps it stopped — `start` is a no-op for it until `stop` forgets the volume — and a
     * publish waiting on the first issuance hears PodGone.
     */
    readonly retire: (volumeId: string, pod: PodInfo) => Effect.Effect<void>
    readonly size: Effect.Effect<number>
    /** Counts and earliest times across volumes, for the metrics gauges. */
    readonly summary: Effect.Effect<VolumeSummary>
  }
>()("csi/Lifecycle") {
  static readonly layer = Layer.effect(
    Lifecycle,
    Effect.gen(function* () {
      const context = yield* Effect.context<
        | Effect.Services<ReturnType<typeof issue>>
        | Effect.Services<ReturnType<typeof awaitReadiness>>
        | VolumeStore
        | PodEvents
        | CertificateRequests
      >()
      const fibers = yield* FiberMap.make<string>()
      const states = new Map<string, SubscriptionRef.SubscriptionRef<VolumeState>>()
      const retired = new Set<string>()
      const goneOf = (volumeId: string, pod: PodInfo): VolumeState => ({
        _tag: "Failed",
        error: new PodGone({ volumeId, pod: `${pod.namespace}/${pod.name}` }),
      })

      const run = (
        volumeId: string,
        state: SubscriptionRef.SubscriptionRef<VolumeState>,
        options: StartOptions,
      ) =>
        Effect.gen(function* () {
          const store = yield* VolumeStore
          const stored = yield* store.read(volumeId)
          if (Option.isNone(stored)) return
          const pod = stored.value.pod
          // Retired while this fiber was on its way, or before a restart: it stays stopped.
          if (retired.has(volumeId) || stored.value.podGoneAt !== undefined) {
            return yield* SubscriptionRef.set(state, goneOf(volumeId, pod))
          }
          yield* Effect.gen(function* () {
            let current = stored.value.issuance
            if (current === undefined) {
              const first = yield* firstIssuance(volumeId, pod, state, options)
              if (Option.isNone(first)) return
              current = first.value
            }
            while (true) {
              yield* SubscriptionRef.set(state, { _tag: "Issued", issuance: current })
              yield* sleepUntil(current.nextIssuanceAt)
              current = yield* renew(volumeId, pod)
            }
          }).pipe(Effect.annotateLogs({ pod: `${pod.namespace}/${pod.name}` }))
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
          if (retired.has(volumeId) || (yield* FiberMap.has(fibers, volumeId))) return
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
          FiberMap.remove(fibers, volumeId).pipe(
            Effect.andThen(
              Effect.sync(() => {
                states.delete(volumeId)
                retired.delete(volumeId)
              }),
            ),
          ),
        retire: (volumeId, pod) =>
          Effect.gen(function* () {
            retired.add(volumeId)
            yield* FiberMap.remove(fibers, volumeId)
            const state = states.get(volumeId)
            if (state === undefined) states.set(volumeId, yield* SubscriptionRef.make(goneOf(volumeId, pod)))
            else yield* SubscriptionRef.set(state, goneOf(volumeId, pod))
          }),
        size: FiberMap.size(fibers),
        summary: Effect.sync(() => {
          let earliestNotAfter: number | undefined
          let earliestRenewal: number | undefined
          for (const state of states.values()) {
            const value = SubscriptionRef.getUnsafe(state)
            if (value._tag !== "Issued") continue
            const notAfter = Date.parse(value.issuance.notAfter)
            const renewal = Date.parse(value.issuance.nextIssuanceAt)
            if (earliestNotAfter === undefined || notAfter < earliestNotAfter) earliestNotAfter = notAfter
            if (earliestRenewal === undefined || renewal < earliestRenewal) earliestRenewal = renewal
          }
          return { volumes: states.size, earliestNotAfter, earliestRenewal }
        }),
      })
    }),
  )
}

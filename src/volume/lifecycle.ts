/**
 * Keeps each volume's certificate current. A volume has a fiber only while it has work:
 * its first issuance, then each renewal, which reuses `issue` unchanged and retries
 * failures with capped exponential backoff, never touching the working files. Between
 * issuances a volume waits in the node's one renewal timetable (one fiber for all
 * volumes, on Effect's Clock) — an idle volume costs a few hundred bytes, not a parked
 * fiber. Every issuance first waits for the pod's readiness gates (`awaitReadiness`).
 * Publish waits on a Deferred to know when the first issuance settles. Its deadline, and
 * the pending notices a slow first issuance sends, are keys in timetables like the
 * renewals: a publish forks only the volume's own fiber. A volume whose
 * pod is gone is retired: stopped for good, so no republish or recovery revives it.
 */
import { Cause, Clock, Context, Deferred, Duration, Effect, Exit, FiberMap, Layer, Option } from "effect"
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
import { type VolumeMetadata, VolumeStore } from "./store.js"
import { makeTimetable, type Timetable } from "./timetable.js"

export type IssueError = Effect.Error<ReturnType<typeof issue>>

export type VolumeState =
  | { readonly _tag: "Issuing" }
  /** Times as epoch ms: a thousand idle volumes keep two numbers each, not an Issuance's strings. */
  | { readonly _tag: "Issued"; readonly notAfter: number; readonly renewAt: number }
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

const isSettled = (state: VolumeState) => state._tag !== "Issuing"

/**
 * One issuance once the pod is ready for it, counted by outcome and timed from the request;
 * `ready`: the volume's metadata, when the caller has just seen the gates pass.
 */
const attempt = (volumeId: string, kind: "first" | "renewal", ready?: Option.Option<VolumeMetadata>) =>
  Effect.gen(function* () {
    const current = ready ?? (yield* awaitReadiness(volumeId))
    const started = yield* Clock.currentTimeMillis
    const issuance = yield* issue(volumeId, current).pipe(
      Effect.tapError((error) => issueAttempt(outcomeOfError(error._tag))),
    )
    yield* issueAttempt("issued")
    yield* issuanceTook(kind, (yield* Clock.currentTimeMillis) - started)
    return issuance
  })

/** Seconds of pending after which the pod gets an event saying what it waits for, and how often again. */
const pendingNoticeAfter = Duration.seconds(10)
const pendingNoticeEvery = Duration.minutes(1)

/** Tells the pod, while its first certificate is pending, which request and issuer it waits on. */
const pendingNotice = (volumeId: string) =>
  Effect.gen(function* () {
    const store = yield* VolumeStore
    const requests = yield* CertificateRequests
    const events = yield* PodEvents
    const metadata = yield* store.read(volumeId).pipe(Effect.orElseSucceed(() => Option.none()))
    if (Option.isNone(metadata)) return
    const pending = metadata.value.pendingRequest
    const issuer = metadata.value.attributes["csi.cert-manager.io/issuer-name"] ?? ""
    const message =
      pending !== undefined
        ? `waiting for issuer ${issuer} to sign CertificateRequest ${pending.namespace}/${pending.name}: ${yield* requests.describe(pending)}`
        : `waiting to create a CertificateRequest for issuer ${issuer}`
    yield* events.record(metadata.value.pod, { type: "Warning", reason: "IssuancePending", message })
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

/** One volume as the lifecycle knows it; between issuances nothing else of it is kept. */
interface Volume {
  state: VolumeState
  /** Publishes waiting for the first issuance to settle (none: gave up); made on demand, dropped once settled. */
  waiters: Array<Deferred.Deferred<Option.Option<VolumeState>>> | undefined
}

const setState = (volume: Volume, state: VolumeState) => {
  volume.state = state
  if (volume.waiters !== undefined && isSettled(state)) {
    const settled = Exit.succeed(Option.some(state))
    for (const waiter of volume.waiters) Deferred.doneUnsafe(waiter, settled)
    volume.waiters = undefined
  }
}

type Needs =
  | Effect.Services<ReturnType<typeof issue>>
  | Effect.Services<ReturnType<typeof awaitReadiness>>
  | VolumeStore
  | PodEvents
  | CertificateRequests

export class Lifecycle extends Context.Service<
  Lifecycle,
  {
    /** Starts the volume unless it is running (issuing, or waiting for its renewal); a no-op then. */
    readonly start: (volumeId: string, options: StartOptions) => Effect.Effect<void>
    readonly state: (volumeId: string) => Effect.Effect<Option.Option<VolumeState>>
    /**
     * Waits until the first issuance is done or failed; none when the volume is not started,
     * or when `until` (epoch ms) comes first.
     */
    readonly awaitSettled: (volumeId: string, until?: number) => Effect.Effect<Option.Option<VolumeState>>
    /** Stops the volume: cancels its renewal, interrupts an issuance in flight, forgets the volume. */
    readonly stop: (volumeId: string) => Effect.Effect<void>
    /**
     * The volume's pod is gone: stops it (a gate wait, an issuance in flight, its renewal)
     * and keeps it stopped — `start` is a no-op for it until `stop` forgets the volume — and
     * a publish waiting on the first issuance hears PodGone.
     */
    readonly retire: (volumeId: string, pod: PodInfo) => Effect.Effect<void>
    /** Volumes running: issuing, renewing, or waiting for their renewal. */
    readonly size: Effect.Effect<number>
    /** Counts and earliest times across volumes, for the metrics gauges. */
    readonly summary: Effect.Effect<VolumeSummary>
  }
>()("csi/Lifecycle") {
  static readonly layer = Layer.effect(
    Lifecycle,
    Effect.gen(function* () {
      /** A volume's work in flight: its first issuance or a renewal; none while it waits. */
      const fibers = yield* FiberMap.make<string>()
      // Volume fibers run on this layer's context as it is, whoever starts them: providing it to a
      // fiber forked from the caller merged the two (a copy of both, ~4 KiB per publish).
      const runVolume = yield* FiberMap.runtime(fibers)<Needs>()
      const volumes = new Map<string, Volume>()
      const retired = new Set<string>()
      /** Publishes' waits with a deadline, by key: the timetable ends each one still waiting then. */
      const timedWaits = new Map<string, Deferred.Deferred<Option.Option<VolumeState>>>()
      let waitCount = 0
      const givenUp = Exit.succeed(Option.none<VolumeState>())
      // A deadline is a key in a timetable rather than a sleep raced against the wait: no fibers per publish.
      const deadlines = yield* makeTimetable((key) =>
        Effect.sync(() => {
          const waiter = timedWaits.get(key)
          if (waiter !== undefined) Deferred.doneUnsafe(waiter, givenUp)
        }),
      )
      /** Pods told while their first issuance is pending, by volume: in their own fibers, stopped with the issuance. */
      const notices = yield* FiberMap.make<string>()
      const runNotice = yield* FiberMap.runtime(notices)<Needs>()
      /** Volumes whose first issuance is under way: the ones a notice may still be for. */
      const pendingFirst = new Set<string>()
      const pendingNotices: Timetable = yield* makeTimetable((volumeId) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          // Settled or stopped between the key falling due and this: nothing to tell, nor to re-arm.
          if (!pendingFirst.has(volumeId)) return
          pendingNotices.set(volumeId, now + Duration.toMillis(pendingNoticeEvery))
          runNotice(
            volumeId,
            pendingNotice(volumeId).pipe(
              Effect.catchCause((cause) =>
                Effect.logWarning("could not tell the pod its issuance is pending", cause),
              ),
              Effect.annotateLogs({ volumeId }),
            ),
            { onlyIfMissing: true },
          )
        }),
      )
      const goneOf = (volumeId: string, pod: PodInfo): VolumeState => ({
        _tag: "Failed",
        error: new PodGone({ volumeId, pod: `${pod.namespace}/${pod.name}` }),
      })

      /** One volume's work, as its fiber runs it; a defect settles it as Failed for a waiting publish. */
      const supervised = (volumeId: string, volume: Volume, work: Effect.Effect<void, unknown, Needs>) =>
        work.pipe(
          Effect.catchCause((cause) =>
            Cause.hasInterruptsOnly(cause)
              ? Effect.void
              : Effect.logError("volume lifecycle stopped", cause).pipe(
                  // A waiting publish must hear of it, not wait out its deadline.
                  Effect.andThen(
                    Effect.sync(() =>
                      setState(volume, { _tag: "Failed", error: new InternalError({ volumeId }) }),
                    ),
                  ),
                ),
          ),
          Effect.annotateLogs({ volumeId }),
        )

      /** Records the issuance and puts the volume in the timetable for its renewal (renews now when due). */
      const issued = (
        volumeId: string,
        volume: Volume,
        pod: PodInfo,
        issuance: Issuance,
      ): Effect.Effect<void, unknown, Needs> =>
        Effect.gen(function* () {
          let current = issuance
          while (true) {
            const at = Date.parse(current.nextIssuanceAt)
            setState(volume, { _tag: "Issued", notAfter: Date.parse(current.notAfter), renewAt: at })
            if (at > (yield* Clock.currentTimeMillis)) return renewals.set(volumeId, at)
            current = yield* renew(volumeId, pod)
          }
        })

      const renewal = (volumeId: string, volume: Volume): Effect.Effect<void, unknown, Needs> =>
        Effect.gen(function* () {
          const stored = yield* (yield* VolumeStore).read(volumeId)
          if (Option.isNone(stored)) return
          const pod = stored.value.pod
          yield* Effect.flatMap(renew(volumeId, pod), (next) => issued(volumeId, volume, pod, next)).pipe(
            Effect.annotateLogs({ pod: `${pod.namespace}/${pod.name}` }),
          )
        })

      // The timetable's one fiber only starts due renewals; each runs as the volume's fiber.
      const renewals = yield* makeTimetable((volumeId) =>
        Effect.suspend(() => {
          const volume = volumes.get(volumeId)
          if (volume === undefined) return Effect.void
          // A republish that came between the key leaving the queue and this fork started the
          // volume's own fiber, which renews a due issuance itself: that one is not replaced.
          runVolume(volumeId, supervised(volumeId, volume, renewal(volumeId, volume)), {
            onlyIfMissing: true,
          })
          return Effect.void
        }),
      )

      const firstIssuance = (
        volumeId: string,
        volume: Volume,
        stored: VolumeMetadata,
        options: StartOptions,
      ) =>
        Effect.gen(function* () {
          const events = yield* PodEvents
          const pod = stored.pod
          // A volume held back by its gates says so itself; the pending notice is for the issuer's part.
          const readied = yield* awaitReadiness(volumeId, Option.some(stored))
          pendingFirst.add(volumeId)
          pendingNotices.set(
            volumeId,
            (yield* Clock.currentTimeMillis) + Duration.toMillis(pendingNoticeAfter),
          )
          // The gates passed just above: the first try goes straight on, a retry waits for them again.
          let ready: Option.Option<VolumeMetadata> | undefined = readied
          const first = Effect.suspend(() => {
            const current = ready
            ready = undefined
            return attempt(volumeId, "first", current)
          }).pipe(
            // The event goes first: the waiting publish removes the volume as soon as it sees Failed.
            Effect.tapError((error) =>
              events
                .record(pod, {
                  type: "Warning",
                  reason: error._tag === "RequestDenied" ? "IssuanceDenied" : "IssuanceFailed",
                  message: error.message,
                })
                .pipe(Effect.andThen(Effect.sync(() => setState(volume, { _tag: "Failed", error })))),
            ),
          )
          const settled = options.retryFirstIssuance
            ? Effect.asSome(first.pipe(Effect.retry(renewalBackoff)))
            : Effect.option(first)
          return yield* settled.pipe(
            Effect.ensuring(
              Effect.suspend(() => {
                pendingFirst.delete(volumeId)
                pendingNotices.delete(volumeId)
                // A notice is sent only after 10 s of pending: usually there is none to stop.
                return FiberMap.hasUnsafe(notices, volumeId)
                  ? FiberMap.remove(notices, volumeId)
                  : Effect.void
              }),
            ),
          )
        })

      const begin = (volumeId: string, volume: Volume, options: StartOptions) =>
        Effect.gen(function* () {
          const stored = yield* (yield* VolumeStore).read(volumeId)
          if (Option.isNone(stored)) return
          const pod = stored.value.pod
          // Retired while this fiber was on its way, or before a restart: it stays stopped.
          if (retired.has(volumeId) || stored.value.podGoneAt !== undefined) {
            return setState(volume, goneOf(volumeId, pod))
          }
          yield* Effect.gen(function* () {
            let current = stored.value.issuance
            if (current === undefined) {
              const first = yield* firstIssuance(volumeId, volume, stored.value, options)
              if (Option.isNone(first)) return
              current = first.value
            }
            yield* issued(volumeId, volume, pod, current)
          }).pipe(Effect.annotateLogs({ pod: `${pod.namespace}/${pod.name}` }))
        })

      const running = (volumeId: string) => FiberMap.hasUnsafe(fibers, volumeId) || renewals.has(volumeId)

      const start = (volumeId: string, options: StartOptions) =>
        Effect.suspend(() => {
          if (retired.has(volumeId) || running(volumeId)) return Effect.void
          const volume: Volume = { state: { _tag: "Issuing" }, waiters: undefined }
          volumes.set(volumeId, volume)
          runVolume(volumeId, supervised(volumeId, volume, begin(volumeId, volume, options)), {
            onlyIfMissing: true,
          })
          return Effect.void
        })

      /** Cancels whatever the volume has in the timetable or in flight. */
      const halt = (volumeId: string) =>
        Effect.suspend(() => {
          renewals.delete(volumeId)
          return FiberMap.remove(fibers, volumeId)
        })

      return Lifecycle.of({
        start,
        state: (volumeId) => Effect.sync(() => Option.fromNullishOr(volumes.get(volumeId)?.state)),
        awaitSettled: (volumeId, until) =>
          Effect.suspend(() => {
            const volume = volumes.get(volumeId)
            if (volume === undefined) return Effect.succeedNone
            if (isSettled(volume.state)) return Effect.succeedSome(volume.state)
            const waiter = Deferred.makeUnsafe<Option.Option<VolumeState>>()
            volume.waiters ??= []
            volume.waiters.push(waiter)
            const key = until === undefined ? undefined : `${volumeId}#${waitCount++}`
            if (key !== undefined && until !== undefined) {
              timedWaits.set(key, waiter)
              deadlines.set(key, until)
            }
            return Effect.ensuring(
              Deferred.await(waiter),
              Effect.sync(() => {
                if (key !== undefined) {
                  timedWaits.delete(key)
                  deadlines.delete(key)
                }
                // Gave up before it settled: the volume no longer holds the waiter.
                const at = volume.waiters?.indexOf(waiter) ?? -1
                if (at >= 0) volume.waiters?.splice(at, 1)
              }),
            )
          }),
        stop: (volumeId) =>
          halt(volumeId).pipe(
            Effect.andThen(
              Effect.sync(() => {
                volumes.delete(volumeId)
                retired.delete(volumeId)
              }),
            ),
          ),
        retire: (volumeId, pod) =>
          Effect.gen(function* () {
            retired.add(volumeId)
            yield* halt(volumeId)
            const volume = volumes.get(volumeId)
            const gone = goneOf(volumeId, pod)
            if (volume === undefined) volumes.set(volumeId, { state: gone, waiters: undefined })
            else setState(volume, gone)
          }),
        size: Effect.sync(() => {
          let count = 0
          for (const volumeId of volumes.keys()) if (running(volumeId)) count++
          return count
        }),
        summary: Effect.sync(() => {
          let earliestNotAfter: number | undefined
          let earliestRenewal: number | undefined
          for (const { state } of volumes.values()) {
            if (state._tag !== "Issued") continue
            const { notAfter, renewAt: renewal } = state
            if (earliestNotAfter === undefined || notAfter < earliestNotAfter) earliestNotAfter = notAfter
            if (earliestRenewal === undefined || renewal < earliestRenewal) earliestRenewal = renewal
          }
          return { volumes: volumes.size, earliestNotAfter, earliestRenewal }
        }),
      })
    }),
  )
}

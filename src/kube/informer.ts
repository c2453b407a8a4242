/**
 * One shared list+watch over the CertificateRequests labelled with this node's
 * hash, kept as an in-memory cache that every waiting volume reads and subscribes
 * to — no polling and no watch per volume. List, then watch from the list's
 * resourceVersion; re-watch from the last seen version when a stream ends cleanly;
 * re-list on 410 Gone or any watch error, with backoff while the API is away.
 */
import { Cause, Deferred, Duration, Effect, Option, Queue, Ref, Result, type Scope, Stream } from "effect"
import { cappedBackoff } from "../backoff.js"
import { watchRestarted } from "../observability/metrics.js"
import { type CertificateRequest, decodeCertificateRequest } from "./certificate-request.js"
import { isKubeApiFailure, type KubeApiFailure } from "./errors.js"

export interface WatchEvent {
  readonly type: string
  readonly object: unknown
}

export interface ListResult {
  readonly items: ReadonlyArray<unknown>
  readonly resourceVersion: string
}

export interface InformerSource {
  readonly list: Effect.Effect<ListResult, KubeApiFailure>
  readonly watch: (resourceVersion: string) => Stream.Stream<WatchEvent, KubeApiFailure>
}

export type Change =
  | { readonly _tag: "Upsert"; readonly request: CertificateRequest }
  | { readonly _tag: "Delete"; readonly request: CertificateRequest }

export interface Informer {
  readonly get: (namespace: string, name: string) => Effect.Effect<Option.Option<CertificateRequest>>
  readonly all: Effect.Effect<ReadonlyArray<CertificateRequest>>
  /**
   * Changes to one request, from now on, for as long as the scope lasts. Subscribe before
   * reading the cache, so no change falls between the two. Only that request's waiters
   * are woken: a burst of waiters costs no more than one.
   */
  readonly changesOf: (
    namespace: string,
    name: string,
  ) => Effect.Effect<Queue.Dequeue<Change>, never, Scope.Scope>
  /** Listed, and the watch has not failed since. */
  readonly synced: Effect.Effect<boolean>
  /** Completes once the first list has filled the cache. */
  readonly firstSync: Effect.Effect<void>
}

export const keyOf = (namespace: string, name: string) => `${namespace}/${name}`

/** Thrown through the watch loop to force a re-list. */
class Relist {
  readonly _tag = "Relist"
}

const retrySchedule = cappedBackoff("200 millis", "10 seconds")

export const makeInformer = (source: InformerSource) =>
  Effect.gen(function* () {
    const cache = new Map<string, CertificateRequest>()
    const subscribers = new Map<string, Set<Queue.Queue<Change>>>()
    const notify = (change: Change) =>
      Effect.sync(() => {
        const key = keyOf(change.request.metadata.namespace, change.request.metadata.name)
        for (const queue of subscribers.get(key) ?? []) Queue.offerUnsafe(queue, change)
      })
    const changesOf = (namespace: string, name: string) =>
      Effect.acquireRelease(
        Effect.gen(function* () {
          const queue = yield* Queue.unbounded<Change>()
          const key = keyOf(namespace, name)
          subscribers.set(key, (subscribers.get(key) ?? new Set()).add(queue))
          return queue
        }),
        (queue) =>
          Effect.sync(() => {
            const key = keyOf(namespace, name)
            const set = subscribers.get(key)
            set?.delete(queue)
            if (set?.size === 0) subscribers.delete(key)
          }),
      )
    const synced = yield* Ref.make(false)
    const resourceVersion = yield* Ref.make("")
    const listedOnce = yield* Deferred.make<void>()

    const decode = (raw: unknown): Option.Option<CertificateRequest> => {
      const decoded = decodeCertificateRequest(raw)
      return Result.isSuccess(decoded) ? Option.some(decoded.success) : Option.none()
    }

    const upsert = (request: CertificateRequest) => {
      cache.set(keyOf(request.metadata.namespace, request.metadata.name), request)
      return notify({ _tag: "Upsert", request })
    }
    const remove = (request: CertificateRequest) => {
      cache.delete(keyOf(request.metadata.namespace, request.metadata.name))
      return notify({ _tag: "Delete", request })
    }

    const relist = Effect.gen(function* () {
      const listed = yield* source.list.pipe(
        Effect.tapError((error) =>
          Ref.set(synced, false).pipe(
            Effect.andThen(Effect.logWarning("listing CertificateRequests failed", error)),
          ),
        ),
        Effect.retry(retrySchedule),
      )
      const seen = new Set<string>()
      for (const raw of listed.items) {
        const request = decode(raw)
        if (Option.isNone(request)) {
          yield* Effect.logWarning("ignoring a CertificateRequest that does not decode")
          continue
        }
        seen.add(keyOf(request.value.metadata.namespace, request.value.metadata.name))
        yield* upsert(request.value)
      }
      for (const [key, request] of [...cache]) if (!seen.has(key)) yield* remove(request)
      yield* Ref.set(resourceVersion, listed.resourceVersion)
      yield* Ref.set(synced, true)
      yield* Deferred.succeed(listedOnce, undefined)
    })

    const handle = (event: WatchEvent) =>
      Effect.gen(function* () {
        if (event.type === "ERROR") {
          // 410 Gone (or any error event): our resourceVersion is too old; start over.
          return yield* Effect.fail(new Relist())
        }
        const request = decode(event.object)
        if (Option.isNone(request)) {
          if (event.type !== "BOOKMARK")
            yield* Effect.logWarning(`ignoring a ${event.type} event that does not decode`)
          const version = bookmarkVersion(event.object)
          if (version !== undefined) yield* Ref.set(resourceVersion, version)
          return
        }
        const version = request.value.metadata.resourceVersion
        if (version !== undefined) yield* Ref.set(resourceVersion, version)
        if (event.type === "DELETED") yield* remove(request.value)
        else if (event.type === "ADDED" || event.type === "MODIFIED") yield* upsert(request.value)
      })

    // Re-watch from the last version while streams end cleanly; fail with Relist otherwise.
    const watchLoop = Effect.gen(function* () {
      while (true) {
        yield* watchRestarted
        const from = yield* Ref.get(resourceVersion)
        yield* source.watch(from).pipe(
          Stream.runForEach(handle),
          Effect.catchIf(isKubeApiFailure, (error) =>
            Ref.set(synced, false).pipe(
              Effect.andThen(Effect.logWarning("CertificateRequest watch failed; re-listing", error)),
              Effect.andThen(Effect.sleep(Duration.seconds(1))),
              Effect.andThen(Effect.fail(new Relist())),
            ),
          ),
        )
      }
    })

    const loop = Effect.gen(function* () {
      while (true) {
        yield* relist
        yield* watchLoop.pipe(Effect.catch(() => watchRestarted))
      }
    })
    yield* Effect.forkScoped(
      loop.pipe(Effect.catchCause((cause) => Effect.logError("informer stopped", cause))),
    )

    const informer: Informer = {
      get: (namespace, name) => Effect.sync(() => Option.fromNullishOr(cache.get(keyOf(namespace, name)))),
      all: Effect.sync(() => [...cache.values()]),
      changesOf,
      synced: Ref.get(synced),
      firstSync: Deferred.await(listedOnce),
    }
    return informer
  })

const bookmarkVersion = (object: unknown): string | undefined => {
  if (typeof object !== "object" || object === null || !("metadata" in object)) return undefined
  const metadata = object.metadata
  if (typeof metadata !== "object" || metadata === null || !("resourceVersion" in metadata)) return undefined
  return typeof metadata.resourceVersion === "string" ? metadata.resourceVersion : undefined
}

/** Adapts client-node's callback watch to a Stream that ends when the server closes it. */
export const watchStream = (
  start: (
    onEvent: (type: string, object: unknown) => void,
    onDone: (error: unknown) => void,
  ) => Promise<AbortController>,
  onError: (cause: unknown) => KubeApiFailure,
): Stream.Stream<WatchEvent, KubeApiFailure> =>
  Stream.callback<WatchEvent, KubeApiFailure>((queue) =>
    Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          start(
            (type, object) => {
              Queue.offerUnsafe(queue, { type, object })
            },
            (error) => {
              if (error === null || error === undefined) Queue.endUnsafe(queue)
              else Queue.failCauseUnsafe(queue, Cause.fail(onError(error)))
            },
          ),
        catch: onError,
      }),
      (controller) => Effect.sync(() => controller.abort()),
    ),
  )

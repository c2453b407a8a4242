/**
 * One shared list+watch over one kind of object (this node's CertificateRequests,
 * this node's pods), kept as an in-memory cache that every waiting volume reads and
 * subscribes to — no polling and no watch per volume. List, then watch from the
 * list's resourceVersion; re-watch from the last seen version when a stream ends
 * cleanly; re-list on 410 Gone or any watch error, with backoff while the API is away.
 */
import { Cause, Deferred, Duration, Effect, Option, Queue, Ref, Result, Scope, Stream } from "effect"
import { cappedBackoff } from "../backoff.js"
import { watchRestarted } from "../observability/metrics.js"
import { type CertificateRequest, decodeCertificateRequest, forCache } from "./certificate-request.js"
import { isKubeApiFailure, type KubeApiFailure } from "./errors.js"
import { volumeIdHashLabel } from "./labels.js"

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
  /**
   * The watch from a version. A source may hand each event to `apply` as it arrives,
   * outside any fiber, and put on the stream only those `apply` leaves (false); a source
   * that ignores it streams every event, and the informer's fiber applies them.
   */
  readonly watch: (resourceVersion: string, apply?: ApplyEvent) => Stream.Stream<WatchEvent, KubeApiFailure>
}

/** Applies one watch event at once; false when it is left to the stream (in order, and so are all after it). */
export type ApplyEvent = (event: WatchEvent) => boolean

/** What the cache holds: anything with a namespaced name (and a version, when the API gave one). */
export interface Named {
  readonly metadata: {
    readonly namespace: string
    readonly name: string
    readonly resourceVersion?: string | undefined
  }
}

export type Change<A extends Named = CertificateRequest> =
  | { readonly _tag: "Upsert"; readonly object: A }
  | { readonly _tag: "Delete"; readonly object: A }

export interface Informer<A extends Named = CertificateRequest> {
  readonly get: (namespace: string, name: string) => Effect.Effect<Option.Option<A>>
  readonly all: Effect.Effect<ReadonlyArray<A>>
  /** The cached objects whose `indexBy` key is this (none when the kind has no index): no scan of `all`. */
  readonly indexed: (key: string) => Effect.Effect<ReadonlyArray<A>>
  /**
   * Changes to one object, from now on, for as long as the scope lasts. Subscribe before
   * reading the cache, so no change falls between the two. Only that object's waiters
   * are woken: a burst of waiters costs no more than one.
   */
  readonly changesOf: (
    namespace: string,
    name: string,
  ) => Effect.Effect<Queue.Dequeue<Change<A>>, never, Scope.Scope>
  /** Changes to every object, from now on, for as long as the scope lasts. */
  readonly changes: Effect.Effect<Queue.Dequeue<Change<A>>, never, Scope.Scope>
  /** Listed, and the watch has not failed since. */
  readonly synced: Effect.Effect<boolean>
  /** Completes once the first list has filled the cache. */
  readonly firstSync: Effect.Effect<void>
  /** Whether the first list has filled the cache. */
  readonly listed: Effect.Effect<boolean>
}

export const keyOf = (namespace: string, name: string) => `${namespace}/${name}`

/** Thrown through the watch loop to force a re-list. */
class Relist {
  readonly _tag = "Relist"
}

const retrySchedule = cappedBackoff("200 millis", "10 seconds")

/** How to read one kind of object off the API: its decoder, and its names for logs and metrics. */
export interface InformerKind<A extends Named> {
  readonly decode: (raw: unknown) => Result.Result<A, unknown>
  /** Plural resource name, the `resource` label of the watch-restart metric. */
  readonly resource: string
  /** Singular kind, in log lines. */
  readonly kind: string
  /**
   * What the cache keeps of an object, when less than all of it: what `get` and `all`
   * return. Subscribers to changes get the object as the API sent it.
   */
  readonly cached?: (object: A) => A
  /** The key `indexed` finds a cached object by (read off what the cache keeps), if it has one. */
  readonly indexBy?: (object: A) => string | undefined
}

export const certificateRequestKind: InformerKind<CertificateRequest> = {
  decode: decodeCertificateRequest,
  resource: "certificaterequests",
  kind: "CertificateRequest",
  cached: forCache,
  // removeForVolume's lookup, once per issuance and per unpublish.
  indexBy: (request) => request.metadata.labels?.[volumeIdHashLabel],
}

/** The node's CertificateRequests informer. */
export const makeInformer = (source: InformerSource) => makeObjectInformer(source, certificateRequestKind)

/** An informer over any kind: the same list, watch, resync and backoff for each. */
export const makeObjectInformer = <A extends Named>(source: InformerSource, kind: InformerKind<A>) =>
  Effect.gen(function* () {
    // By namespace, then name: a node's objects live in a few namespaces, and a key string
    // made of both would cost each cached object another ~60 bytes.
    const cache = new Map<string, Map<string, A>>()
    const cachedOf = (namespace: string, name: string) => cache.get(namespace)?.get(name)
    const subscribers = new Map<string, Set<Queue.Queue<Change<A>>>>()
    const everything = new Set<Queue.Queue<Change<A>>>()
    const notifyUnsafe = (change: Change<A>) => {
      const key = keyOf(change.object.metadata.namespace, change.object.metadata.name)
      for (const queue of subscribers.get(key) ?? []) Queue.offerUnsafe(queue, change)
      for (const queue of everything) Queue.offerUnsafe(queue, change)
    }
    const unsubscribe = (key: string, queue: Queue.Queue<Change<A>>) =>
      Effect.sync(() => {
        const set = subscribers.get(key)
        set?.delete(queue)
        if (set?.size === 0) subscribers.delete(key)
      })
    // Effect.acquireRelease, less its release's Effect.provide of the acquiring fiber's
    // context: that merge copied every service into two new Maps (~5 KiB) for each issuance
    // that waited here, and the release needs no service.
    const changesOf = (namespace: string, name: string) =>
      Effect.uninterruptible(
        Effect.flatMap(Effect.scope, (scope) =>
          Effect.flatMap(Queue.unbounded<Change<A>>(), (queue) => {
            const key = keyOf(namespace, name)
            subscribers.set(key, (subscribers.get(key) ?? new Set()).add(queue))
            return Effect.as(Scope.addFinalizer(scope, unsubscribe(key, queue)), queue)
          }),
        ),
      )
    const changes = Effect.acquireRelease(
      Effect.tap(Queue.unbounded<Change<A>>(), (queue) => Effect.sync(() => everything.add(queue))),
      (queue) => Effect.sync(() => everything.delete(queue)),
    )
    const synced = yield* Ref.make(false)
    // The last version seen; plain, as events may be applied outside any fiber (ApplyEvent).
    let resourceVersion = ""
    const listedOnce = yield* Deferred.make<void>()

    const decode = (raw: unknown): Option.Option<A> => {
      const decoded = kind.decode(raw)
      return Result.isSuccess(decoded) ? Option.some(decoded.success) : Option.none()
    }

    const cached = kind.cached ?? ((object: A) => object)
    const index = makeIndex(kind.indexBy)
    const upsertUnsafe = (object: A) => {
      const { namespace, name } = object.metadata
      const names = cache.get(namespace)
      const before = names?.get(name)
      const kept = cached(object)
      if (names === undefined) cache.set(namespace, new Map([[name, kept]]))
      else names.set(name, kept)
      if (before !== undefined) index?.remove(before)
      index?.add(kept)
      notifyUnsafe({ _tag: "Upsert", object })
    }
    const removeUnsafe = (object: A) => {
      const { namespace, name } = object.metadata
      const names = cache.get(namespace)
      const before = names?.get(name)
      if (before !== undefined) {
        names?.delete(name)
        index?.remove(before)
      }
      if (names?.size === 0) cache.delete(namespace)
      notifyUnsafe({ _tag: "Delete", object })
    }
    const upsert = (object: A) => Effect.sync(() => upsertUnsafe(object))
    const remove = (object: A) => Effect.sync(() => removeUnsafe(object))
    const restarted = watchRestarted(kind.resource)

    const relist = Effect.gen(function* () {
      const listed = yield* source.list.pipe(
        Effect.tapError((error) =>
          Ref.set(synced, false).pipe(
            Effect.andThen(Effect.logWarning(`listing ${kind.resource} failed`, error)),
          ),
        ),
        Effect.retry(retrySchedule),
      )
      const seen = new Set<string>()
      for (const raw of listed.items) {
        const object = decode(raw)
        if (Option.isNone(object)) {
          yield* Effect.logWarning(`ignoring a ${kind.kind} that does not decode`)
          continue
        }
        seen.add(keyOf(object.value.metadata.namespace, object.value.metadata.name))
        yield* upsert(object.value)
      }
      const stale = [...cache.values()].flatMap((names) => [...names.values()])
      for (const object of stale) {
        if (!seen.has(keyOf(object.metadata.namespace, object.metadata.name))) yield* remove(object)
      }
      resourceVersion = listed.resourceVersion
      yield* Ref.set(synced, true)
      yield* Deferred.succeed(listedOnce, undefined)
    })

    const handle = (event: WatchEvent) =>
      Effect.gen(function* () {
        if (event.type === "ERROR") {
          // 410 Gone (or any error event): our resourceVersion is too old; start over.
          return yield* Effect.fail(new Relist())
        }
        const object = decode(event.object)
        if (Option.isNone(object)) {
          if (event.type !== "BOOKMARK")
            yield* Effect.logWarning(`ignoring a ${kind.kind} ${event.type} event that does not decode`)
          const version = bookmarkVersion(event.object)
          if (version !== undefined) resourceVersion = version
          return
        }
        applyDecoded(event.type, object.value)
      })

    const applyDecoded = (type: string, object: A) => {
      const version = object.metadata.resourceVersion
      if (version !== undefined) resourceVersion = version
      if (type === "DELETED") removeUnsafe(object)
      else if (type === "ADDED" || type === "MODIFIED") upsertUnsafe(object)
    }

    /**
     * One watch's events applied as they arrive, without the hop to the informer's fiber
     * and back: what `handle` does for an event that decodes, and for a bookmark. The rest
     * (an ERROR, an object that does not decode) goes to `handle`, and so does every event
     * after it, so the cache still takes them in order.
     */
    const applyNow = (): ApplyEvent => {
      let deferred = false
      return (event) => {
        if (deferred || event.type === "ERROR") {
          deferred = true
          return false
        }
        if (event.type === "BOOKMARK") {
          const version = bookmarkVersion(event.object)
          if (version !== undefined) resourceVersion = version
          return true
        }
        // A throw here would land in the socket's callback: the fiber meets it instead, as before.
        try {
          const decoded = kind.decode(event.object)
          if (Result.isSuccess(decoded)) {
            applyDecoded(event.type, decoded.success)
            return true
          }
        } catch {}
        deferred = true
        return false
      }
    }

    // Re-watch from the last version while streams end cleanly; fail with Relist otherwise.
    const watchLoop = Effect.gen(function* () {
      while (true) {
        yield* restarted
        yield* source.watch(resourceVersion, applyNow()).pipe(
          Stream.runForEach(handle),
          Effect.catchIf(isKubeApiFailure, (error) =>
            Ref.set(synced, false).pipe(
              Effect.andThen(Effect.logWarning(`${kind.kind} watch failed; re-listing`, error)),
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
        yield* watchLoop.pipe(Effect.catch(() => restarted))
      }
    })
    yield* Effect.forkScoped(
      loop.pipe(Effect.catchCause((cause) => Effect.logError(`${kind.kind} informer stopped`, cause))),
    )

    const informer: Informer<A> = {
      get: (namespace, name) => Effect.sync(() => Option.fromNullishOr(cachedOf(namespace, name))),
      all: Effect.sync(() => [...cache.values()].flatMap((names) => [...names.values()])),
      indexed: (key) => Effect.sync(() => index?.get(key) ?? []),
      changesOf,
      changes,
      synced: Ref.get(synced),
      firstSync: Deferred.await(listedOnce),
      listed: Deferred.isDone(listedOnce),
    }
    return informer
  })

/**
 * The cached objects by a key of theirs, kept in step with the cache: each key holds the
 * one object it usually has, or an array of several — no Set per key, so an idle volume's
 * request costs one map entry (whose key is the string its label already holds).
 */
const makeIndex = <A>(indexBy: ((object: A) => string | undefined) | undefined) => {
  if (indexBy === undefined) return undefined
  const entries = new Map<string, A | Array<A>>()
  const isMany = (entry: A | Array<A>): entry is Array<A> => Array.isArray(entry)
  const add = (object: A) => {
    const key = indexBy(object)
    if (key === undefined) return
    const entry = entries.get(key)
    if (entry === undefined) entries.set(key, object)
    else if (isMany(entry)) entry.push(object)
    else entries.set(key, [entry, object])
  }
  const remove = (object: A) => {
    const key = indexBy(object)
    if (key === undefined) return
    const entry = entries.get(key)
    if (entry === undefined) return
    if (!isMany(entry)) {
      if (entry === object) entries.delete(key)
      return
    }
    const at = entry.indexOf(object)
    if (at >= 0) entry.splice(at, 1)
    if (entry.length === 1) entries.set(key, entry[0] as A)
  }
  return {
    add,
    remove,
    get: (key: string): ReadonlyArray<A> => {
      const entry = entries.get(key)
      return entry === undefined ? [] : isMany(entry) ? [...entry] : [entry]
    },
  }
}

/** A list response's items and version, from a custom-object list (JSON) or a typed one (client-node's models). */
export const listResultOf = (body: unknown): ListResult => {
  const list = body as { items?: ReadonlyArray<unknown>; metadata?: { resourceVersion?: string } } | null
  return { items: list?.items ?? [], resourceVersion: list?.metadata?.resourceVersion ?? "" }
}

const bookmarkVersion = (object: unknown): string | undefined => {
  if (typeof object !== "object" || object === null || !("metadata" in object)) return undefined
  const metadata = object.metadata
  if (typeof metadata !== "object" || metadata === null || !("resourceVersion" in metadata)) return undefined
  return typeof metadata.resourceVersion === "string" ? metadata.resourceVersion : undefined
}

/**
 * Adapts a callback watch to a Stream that ends when the server closes it. Each event
 * goes to `apply` first, when given, and onto the stream only if `apply` leaves it.
 */
export const watchStream = (
  start: (
    onEvent: (type: string, object: unknown) => void,
    onDone: (error: unknown) => void,
  ) => Promise<AbortController>,
  onError: (cause: unknown) => KubeApiFailure,
  apply?: ApplyEvent,
): Stream.Stream<WatchEvent, KubeApiFailure> =>
  Stream.callback<WatchEvent, KubeApiFailure>((queue) =>
    Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          start(
            (type, object) => {
              const event = { type, object }
              if (apply === undefined || !apply(event)) Queue.offerUnsafe(queue, event)
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

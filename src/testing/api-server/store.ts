/**
 * The object store behind the API server: objects per resource, one global
 * resourceVersion counter (like etcd's revision), a bounded window of past events for
 * watch resume, listeners for live watches, finalizers, owner-reference garbage
 * collection and a side table of who created what.
 *
 * Every operation is synchronous inside its Effect, so reading the history and
 * subscribing happen atomically and no event can fall between them.
 */
import { Context, Effect, Layer, Option, Result } from "effect"
import { jsonEqual, type KubeObject, withMeta } from "./objects.js"
import { resourceByName, type StoredResource } from "./resources.js"
import { type ApiError, alreadyExists, expired, notFound } from "./status.js"
import type { UserInfo } from "./users.js"

export type EventType = "ADDED" | "MODIFIED" | "DELETED"

export interface StoreEvent {
  readonly type: EventType
  readonly resource: StoredResource
  /** The object after the change (for DELETED: its last state, carrying the deletion's resourceVersion). */
  readonly object: KubeObject
  /** The object before the change (MODIFIED, DELETED). */
  readonly previous?: KubeObject
  readonly resourceVersion: number
}

export type WatchStart =
  | { readonly _tag: "Snapshot" }
  | { readonly _tag: "Since"; readonly resourceVersion: number }

export interface Subscription {
  /** Events to send before live ones: synthetic ADDED for a snapshot, or the replayed history. */
  readonly initial: ReadonlyArray<StoreEvent>
  readonly unsubscribe: () => void
}

export interface DeleteResult {
  readonly object: KubeObject
  /** False when finalizers keep the object (it only got a deletionTimestamp). */
  readonly deleted: boolean
}

export interface StoreOptions {
  /** Events kept per resource for watch resume; older resourceVersions get 410 Expired. Default 1000. */
  readonly watchHistorySize?: number
}

export class ObjectStore extends Context.Service<
  ObjectStore,
  {
    readonly currentResourceVersion: Effect.Effect<number>
    readonly get: (
      resource: StoredResource,
      namespace: string,
      name: string,
    ) => Effect.Effect<KubeObject, ApiError>
    readonly find: (
      resource: StoredResource,
      namespace: string,
      name: string,
    ) => Effect.Effect<Option.Option<KubeObject>>
    /** Objects in key order (namespace, name); all namespaces when `namespace` is undefined. */
    readonly list: (
      resource: StoredResource,
      namespace: string | undefined,
    ) => Effect.Effect<{ readonly items: ReadonlyArray<KubeObject>; readonly resourceVersion: number }>
    /** Stores a new object (metadata complete but resourceVersion); 409 if the name is taken. */
    readonly create: (
      resource: StoredResource,
      object: KubeObject,
      creator: UserInfo,
    ) => Effect.Effect<KubeObject, ApiError>
    /**
     * Replaces an object with what `change` makes of it. A change that alters nothing writes
     * nothing; one that clears the last finalizer of a deleting object deletes it.
     */
    readonly update: (
      resource: StoredResource,
      namespace: string,
      name: string,
      change: (current: KubeObject) => Result.Result<KubeObject, ApiError>,
    ) => Effect.Effect<KubeObject, ApiError>
    /** Deletes an object (or marks it deleting while finalizers remain), then collects its dependents. */
    readonly remove: (
      resource: StoredResource,
      namespace: string,
      name: string,
      now: string,
      precondition?: (current: KubeObject) => Result.Result<void, ApiError>,
    ) => Effect.Effect<DeleteResult, ApiError>
    /** Starts listening to one resource's events, atomically with reading where to start from. */
    readonly subscribe: (
      resource: StoredResource,
      start: WatchStart,
      listener: (event: StoreEvent) => void,
    ) => Effect.Effect<Subscription, ApiError>
    /** The user whose request created the object (kept after deletion, until the name is reused). */
    readonly createdBy: (
      resource: StoredResource,
      namespace: string,
      name: string,
    ) => Effect.Effect<Option.Option<UserInfo>>
    /** Namespaces that hold objects, plus the ones every cluster has. */
    readonly namespaces: Effect.Effect<ReadonlyArray<string>>
  }
>()("csi/testing/ObjectStore") {
  static readonly make = (options?: StoreOptions): Effect.Effect<ObjectStore["Service"]> =>
    Effect.sync(() => makeStore(options?.watchHistorySize ?? 1000))
  static readonly layer = (options?: StoreOptions) => Layer.effect(ObjectStore, ObjectStore.make(options))
}

const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`

const compareKeys = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const makeStore = (historySize: number): ObjectStore["Service"] => {
  const objects = new Map<StoredResource, Map<string, KubeObject>>([
    ["certificaterequests", new Map()],
    ["pods", new Map()],
    ["events", new Map()],
  ])
  const creators = new Map<string, UserInfo>()
  const listeners = new Map<StoredResource, Set<(event: StoreEvent) => void>>([
    ["certificaterequests", new Set()],
    ["pods", new Set()],
    ["events", new Set()],
  ])
  // one window per resource, like the apiserver's per-type watch cache
  const histories = new Map<StoredResource, { events: Array<StoreEvent>; evictedUpTo: number }>()
  const historyOf = (resource: StoredResource) => {
    let h = histories.get(resource)
    if (h === undefined) {
      // evictedUpTo: resourceVersion of the newest event that fell out; watching from older is 410
      h = { events: [], evictedUpTo: 0 }
      histories.set(resource, h)
    }
    return h
  }
  let revision = 1

  const table = (resource: StoredResource) => objects.get(resource)!

  const emit = (event: StoreEvent): void => {
    const h = historyOf(event.resource)
    h.events.push(event)
    while (h.events.length > Math.max(historySize, 0)) h.evictedUpTo = h.events.shift()!.resourceVersion
    for (const listener of listeners.get(event.resource)!) listener(event)
  }

  const stamp = (obj: KubeObject, rv: number): KubeObject => withMeta(obj, { resourceVersion: String(rv) })

  const getSync = (
    resource: StoredResource,
    namespace: string,
    name: string,
  ): Result.Result<KubeObject, ApiError> => {
    const found = table(resource).get(keyOf(namespace, name))
    return found === undefined ? Result.fail(notFound(resourceByName(resource), name)) : Result.succeed(found)
  }

  const deleteNow = (resource: StoredResource, current: KubeObject, now: string): KubeObject => {
    const meta = current.metadata
    const rv = ++revision
    const gone = stamp(current, rv)
    table(resource).delete(keyOf(meta.namespace ?? "", meta.name ?? ""))
    emit({ type: "DELETED", resource, object: gone, previous: current, resourceVersion: rv })
    if (meta.uid !== undefined) collectDependents(meta.uid, now)
    return gone
  }

  const markDeleting = (resource: StoredResource, current: KubeObject, now: string): KubeObject => {
    if (current.metadata.deletionTimestamp !== undefined) return current
    const rv = ++revision
    const next = stamp(withMeta(current, { deletionTimestamp: now, deletionGracePeriodSeconds: 0 }), rv)
    table(resource).set(keyOf(current.metadata.namespace ?? "", current.metadata.name ?? ""), next)
    emit({ type: "MODIFIED", resource, object: next, previous: current, resourceVersion: rv })
    return next
  }

  const removeSync = (resource: StoredResource, current: KubeObject, now: string): DeleteResult =>
    (current.metadata.finalizers?.length ?? 0) > 0
      ? { object: markDeleting(resource, current, now), deleted: false }
      : { object: deleteNow(resource, current, now), deleted: true }

  // The garbage collector's background propagation: dependents go once their owner is gone.
  const collectDependents = (ownerUid: string, now: string): void => {
    for (const resource of objects.keys()) {
      for (const obj of [...table(resource).values()]) {
        if (obj.metadata.ownerReferences?.some((ref) => ref.uid === ownerUid)) removeSync(resource, obj, now)
      }
    }
  }

  return ObjectStore.of({
    currentResourceVersion: Effect.sync(() => revision),

    get: (resource, namespace, name) =>
      Effect.suspend(() => Effect.fromResult(getSync(resource, namespace, name))),

    find: (resource, namespace, name) =>
      Effect.sync(() => Option.fromNullishOr(table(resource).get(keyOf(namespace, name)))),

    list: (resource, namespace) =>
      Effect.sync(() => {
        const entries = [...table(resource).entries()]
          .filter(([, o]) => namespace === undefined || o.metadata.namespace === namespace)
          .sort(([a], [b]) => compareKeys(a, b))
        return { items: entries.map(([, o]) => o), resourceVersion: revision }
      }),

    create: (resource, object, creator) =>
      Effect.suspend(() => {
        const key = keyOf(object.metadata.namespace ?? "", object.metadata.name ?? "")
        if (table(resource).has(key)) {
          return Effect.fail(alreadyExists(resourceByName(resource), object.metadata.name ?? ""))
        }
        const rv = ++revision
        const stored = stamp(object, rv)
        table(resource).set(key, stored)
        creators.set(`${resource}/${key}`, creator)
        emit({ type: "ADDED", resource, object: stored, resourceVersion: rv })
        return Effect.succeed(stored)
      }),

    update: (resource, namespace, name, change) =>
      Effect.suspend(() => {
        const result = Result.flatMap(getSync(resource, namespace, name), (current) =>
          Result.map(change(current), (next) => ({ current, next })),
        )
        if (Result.isFailure(result)) return Effect.fail(result.failure)
        const { current, next } = result.success
        const deleting =
          next.metadata.deletionTimestamp !== undefined && (next.metadata.finalizers?.length ?? 0) === 0
        if (deleting) return Effect.succeed(deleteNow(resource, next, next.metadata.deletionTimestamp ?? ""))
        if (
          jsonEqual(
            { ...next, metadata: { ...next.metadata, resourceVersion: undefined } },
            {
              ...current,
              metadata: { ...current.metadata, resourceVersion: undefined },
            },
          )
        ) {
          return Effect.succeed(current)
        }
        const rv = ++revision
        const stored = stamp(next, rv)
        table(resource).set(keyOf(namespace, name), stored)
        emit({ type: "MODIFIED", resource, object: stored, previous: current, resourceVersion: rv })
        return Effect.succeed(stored)
      }),

    remove: (resource, namespace, name, now, precondition) =>
      Effect.suspend(() => {
        const found = getSync(resource, namespace, name)
        if (Result.isFailure(found)) return Effect.fail(found.failure)
        const check = precondition === undefined ? Result.void : precondition(found.success)
        if (Result.isFailure(check)) return Effect.fail(check.failure)
        return Effect.succeed(removeSync(resource, found.success, now))
      }),

    subscribe: (resource, start, listener) =>
      Effect.suspend(() => {
        let initial: ReadonlyArray<StoreEvent>
        if (start._tag === "Snapshot") {
          initial = [...table(resource).entries()]
            .sort(([a], [b]) => compareKeys(a, b))
            .map(([, object]) => ({
              type: "ADDED" as const,
              resource,
              object,
              resourceVersion: Number(object.metadata.resourceVersion),
            }))
        } else {
          const h = historyOf(resource)
          if (start.resourceVersion < h.evictedUpTo) {
            return Effect.fail(expired(start.resourceVersion, h.evictedUpTo + 1))
          }
          initial = h.events.filter(
            (e) => e.resource === resource && e.resourceVersion > start.resourceVersion,
          )
        }
        const set = listeners.get(resource)!
        set.add(listener)
        return Effect.succeed({ initial, unsubscribe: () => void set.delete(listener) })
      }),

    createdBy: (resource, namespace, name) =>
      Effect.sync(() => Option.fromNullishOr(creators.get(`${resource}/${keyOf(namespace, name)}`))),

    namespaces: Effect.sync(() => {
      const names = new Set(["cert-manager", "default", "kube-node-lease", "kube-public", "kube-system"])
      for (const t of objects.values()) for (const o of t.values()) names.add(o.metadata.namespace ?? "")
      names.delete("")
      return [...names].sort()
    }),
  })
}

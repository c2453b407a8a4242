/**
 * An in-memory `Pods` for tests (ours and users'): this node's pods as the test
 * scripts them — added, changed (IPs, conditions, annotations), deleted or replaced
 * by another UID — served through the same informer as the live layer (list, then a
 * watch that resumes from the list's version), so waiters wake exactly as they would
 * on a node. Each change returns once the cache has it.
 */
import { randomUUID } from "node:crypto"
import { type Cause, Context, Effect, Layer, Queue, Stream } from "effect"
import type { WatchEvent } from "../kube/informer.js"
import { makeObjectInformer } from "../kube/informer.js"
import { Pods, podKind, podsOf } from "../kube/pods.js"

export interface FakePodInput {
  readonly namespace: string
  readonly name: string
  /** Default: a fresh UUID. */
  readonly uid?: string
  /** status.podIPs, the first one also status.podIP. */
  readonly ips?: ReadonlyArray<string>
  readonly conditions?: ReadonlyArray<{ readonly type: string; readonly status: string }>
  readonly annotations?: Readonly<Record<string, string>>
  /** Terminating: a deletionTimestamp is set, the pod still there (its grace period, finalizers). */
  readonly deleting?: boolean
}

export type FakePodChange = Partial<Pick<FakePodInput, "ips" | "conditions" | "annotations" | "deleting">>

interface Stored {
  readonly input: FakePodInput & { readonly uid: string }
  readonly version: number
}

const podObject = ({ input, version }: Stored) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: input.name,
    namespace: input.namespace,
    uid: input.uid,
    resourceVersion: String(version),
    ...(input.annotations === undefined ? {} : { annotations: { ...input.annotations } }),
    ...(input.deleting === true ? { deletionTimestamp: "1970-01-01T00:00:00Z" } : {}),
  },
  status: {
    phase: "Running",
    ...((input.ips ?? []).length === 0
      ? {}
      : { podIP: input.ips?.[0], podIPs: (input.ips ?? []).map((ip) => ({ ip })) }),
    ...(input.conditions === undefined ? {} : { conditions: input.conditions.map((c) => ({ ...c })) }),
  },
})

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`

export class FakePods extends Context.Service<
  FakePods,
  {
    /** Adds the pod, or replaces the one of that name (a new UID means another pod). Returns its UID. */
    readonly put: (pod: FakePodInput) => Effect.Effect<string>
    /** Changes a pod's IPs, conditions, annotations or terminating state (each given one replaces the old). */
    readonly update: (namespace: string, name: string, change: FakePodChange) => Effect.Effect<void>
    /** Deletes the pod, if there is one. */
    readonly remove: (namespace: string, name: string) => Effect.Effect<void>
  }
>()("csi/testing/FakePods") {
  static readonly layer: Layer.Layer<Pods | FakePods> = Layer.effectContext(
    Effect.gen(function* () {
      const pods = new Map<string, Stored>()
      // Every event, so a watch resumes from any version as the API server's does.
      const history: Array<{ readonly version: number; readonly event: WatchEvent }> = []
      const watchers = new Set<Queue.Queue<WatchEvent, Cause.Done>>()
      let version = 0

      const informer = yield* makeObjectInformer(
        {
          list: Effect.sync(() => ({
            items: [...pods.values()].map(podObject),
            resourceVersion: String(version),
          })),
          watch: (from) =>
            Stream.callback<WatchEvent>((queue) =>
              Effect.acquireRelease(
                Effect.sync(() => {
                  for (const past of history)
                    if (past.version > Number(from)) Queue.offerUnsafe(queue, past.event)
                  watchers.add(queue)
                }),
                () => Effect.sync(() => watchers.delete(queue)),
              ),
            ),
        },
        podKind,
      )
      const service = podsOf(informer)

      // Emits one event and returns once the informer has applied it.
      const emit = (namespace: string, name: string, type: WatchEvent["type"], stored: Stored) =>
        Effect.scoped(
          Effect.gen(function* () {
            const applied = yield* service.changesOf(namespace, name)
            const event = { type, object: podObject(stored) }
            history.push({ version: stored.version, event })
            for (const watcher of watchers) Queue.offerUnsafe(watcher, event)
            yield* Queue.take(applied)
          }),
        )

      const put = (pod: FakePodInput) =>
        Effect.gen(function* () {
          const key = keyOf(pod.namespace, pod.name)
          const before = pods.get(key)
          const input = { ...pod, uid: pod.uid ?? randomUUID() }
          if (before !== undefined && before.input.uid !== input.uid) {
            // Another pod under the name: the old one was deleted first, as a StatefulSet does.
            pods.delete(key)
            yield* emit(pod.namespace, pod.name, "DELETED", { ...before, version: ++version })
          }
          const stored = { input, version: ++version }
          const existed = pods.has(key)
          pods.set(key, stored)
          yield* emit(pod.namespace, pod.name, existed ? "MODIFIED" : "ADDED", stored)
          return input.uid
        })

      const update = (namespace: string, name: string, change: FakePodChange) =>
        Effect.suspend(() => {
          const before = pods.get(keyOf(namespace, name))
          return before === undefined ? Effect.void : Effect.asVoid(put({ ...before.input, ...change }))
        })

      const remove = (namespace: string, name: string) =>
        Effect.suspend(() => {
          const key = keyOf(namespace, name)
          const before = pods.get(key)
          if (before === undefined) return Effect.void
          pods.delete(key)
          return emit(namespace, name, "DELETED", { ...before, version: ++version })
        })

      return Context.make(Pods, service).pipe(Context.add(FakePods, FakePods.of({ put, update, remove })))
    }),
  )
}

/**
 * The Pods service: this node's pods, from ONE list+watch with the field selector
 * `spec.nodeName=<--node-id>` (the informer the CertificateRequests use, so the same
 * resync, backoff and metrics), shared by everything that asks about a volume's pod:
 * readiness gates, the pod's IPs for `${POD_IP}`, and whether the pod is gone. Reads
 * are cache lookups; nobody GETs a pod. Waiters subscribe to one pod's changes.
 *
 * "Gone" is judged against the pod a volume was published for (its UID): a DELETED
 * event for that UID, or another UID under the same name (a StatefulSet's
 * replacement), means that pod will not come back.
 */
import { Context, Effect, Layer, Option, type Queue, Result, type Scope } from "effect"
import { Config } from "../config.js"
import type { Change, Informer } from "./informer.js"
import { makeLiveInformer } from "./live-informer.js"
import { decodePod, keptFor, type Pod } from "./pod.js"

export type { Pod } from "./pod.js"

export type PodChange = Change<Pod>

/** Who a volume was published for (from kubelet's volume_context). */
export interface PodRef {
  readonly namespace: string
  readonly name: string
  readonly uid: string
}

/** Where a volume's pod stands, as far as the node's pod watch knows. */
export type PodPresence =
  /** The watch has not listed yet. */
  | { readonly _tag: "Unknown" }
  | { readonly _tag: "Present"; readonly pod: Pod }
  /** Another pod (another UID) holds the name: the volume's pod is gone. */
  | { readonly _tag: "Replaced"; readonly pod: Pod }
  /**
   * Listed, and no pod of that name: deleted, or so new that its ADDED event is still
   * on the way. Right after a list (at start) it means deleted.
   */
  | { readonly _tag: "Absent" }

export class Pods extends Context.Service<
  Pods,
  {
    readonly get: (namespace: string, name: string) => Effect.Effect<Option.Option<Pod>>
    readonly presence: (pod: PodRef) => Effect.Effect<PodPresence>
    /** This pod's changes from now on, while the scope lasts. Subscribe, then read. */
    readonly changesOf: (
      namespace: string,
      name: string,
    ) => Effect.Effect<Queue.Dequeue<PodChange>, never, Scope.Scope>
    /** Every pod's changes from now on, while the scope lasts (one subscriber for the whole node). */
    readonly changes: Effect.Effect<Queue.Dequeue<PodChange>, never, Scope.Scope>
    readonly all: Effect.Effect<ReadonlyArray<Pod>>
    /** Completes once the first list has filled the cache. */
    readonly firstSync: Effect.Effect<void>
    /** Listed, and the watch has not failed since. */
    readonly synced: Effect.Effect<boolean>
  }
>()("csi/Pods") {
  static readonly layer = Layer.effect(
    Pods,
    Effect.gen(function* () {
      const config = yield* Config
      const fieldSelector = `spec.nodeName=${config.nodeId}`
      const kept = keptFor(config.readinessGates ?? [])
      const informer = yield* makeLiveInformer({
        // Narrowed as decoded: what the cache keeps is also all that a change carries.
        kind: { ...podKind, decode: (raw: unknown) => Result.map(decodePod(raw), kept) },
        path: "/api/v1/pods",
        selector: { fieldSelector },
        check: "pod-watch",
      })
      return podsOf(informer)
    }),
  )
}

export const podKind = { decode: decodePod, resource: "pods", kind: "Pod" } as const

/** The Pods service over an informer of pods: the live layer's, or the fake's in-memory one. */
export const podsOf = (informer: Informer<Pod>): Pods["Service"] => {
  return Pods.of({
    get: informer.get,
    presence: (ref) =>
      Effect.gen(function* () {
        const listed = yield* informer.listed
        const pod = yield* informer.get(ref.namespace, ref.name)
        if (Option.isSome(pod)) {
          return pod.value.metadata.uid === ref.uid
            ? { _tag: "Present", pod: pod.value }
            : { _tag: "Replaced", pod: pod.value }
        }
        return listed ? { _tag: "Absent" } : { _tag: "Unknown" }
      }),
    changesOf: informer.changesOf,
    changes: informer.changes,
    all: informer.all,
    firstSync: informer.firstSync,
    synced: informer.synced,
  })
}

/** Whether this change means the volume's pod is gone: its UID deleted, or another UID under its name. */
export const goneBy = (ref: PodRef, change: PodChange): boolean =>
  change._tag === "Delete" ? change.object.metadata.uid === ref.uid : change.object.metadata.uid !== ref.uid

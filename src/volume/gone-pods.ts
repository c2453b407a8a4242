/**
 * Gone pods (upstream csi-lib #8: a pod deleted while its volume lives kept getting
 * renewals and CertificateRequests). One node-wide fiber reads every change of the
 * node's pod watch and, for the volumes of the pod that changed (found in a map by pod
 * name: no store scan per change), judges whether that volume's pod is gone: its UID
 * deleted, or another UID under its name once the watch has shown ours (until then, a
 * late event of the pod that held the name before could be the other UID). A gone
 * volume is retired at once: its renewals, a gate wait or an issuance in flight stop,
 * its CertificateRequests are deleted, and its metadata says so, so no republish or
 * restart revives it (kubelet names a volume after its pod's UID and the volume's
 * name, so a new pod never shares a retired volume's id). Its files and mount stay:
 * kubelet owns the mount and unpublishes it with the pod.
 *
 * A pod that is only terminating (deletionTimestamp set) is not gone: its containers
 * run on through the grace period, which can be long, maybe still serving with the
 * certificate, and the API still holds the pod that owns its requests. It is gone when
 * the API removes it.
 *
 * At start, volumes published before this process are judged from the watch's first
 * list (`judgeListed`): the list is newer than their publish, so a pod not on it, or
 * another pod under its name, is gone. At runtime a pod missing from the cache may be
 * one whose ADDED event is still on the way, so only changes decide.
 */
import { Clock, Context, Effect, Layer, Option, Queue, Stream } from "effect"
import type { PodInfo } from "../attributes/spec.js"
import type { CertificateRequests } from "../kube/certificate-requests.js"
import { goneBy, type PodChange, Pods } from "../kube/pods.js"
import { Lifecycle } from "./lifecycle.js"
import { VolumeLocks } from "./locks.js"
import { providerOf } from "./provided.js"
import { VolumeStore } from "./store.js"
import { deleteVolumeRequests } from "./volume-requests.js"

interface Followed {
  readonly volumeId: string
  readonly pod: PodInfo
  /** The watch has shown this pod (its UID): any later other UID under the name is newer. */
  seen: boolean
}

/** A pod's followed volumes: the one it usually has, or several — no Map per pod. */
type Followers = Followed | ReadonlyArray<Followed>

const followersOf = (entry: Followers | undefined): ReadonlyArray<Followed> =>
  entry === undefined ? [] : Array.isArray(entry) ? entry : [entry as Followed]

/** Volumes retired at once; more wait their turn (each is a few API calls). */
const retireConcurrency = 8

export class GonePods extends Context.Service<
  GonePods,
  {
    /** Follows the volume's pod from now on (a no-op for a volume followed already). */
    readonly track: (volumeId: string, pod: PodInfo) => Effect.Effect<void>
    readonly untrack: (volumeId: string) => Effect.Effect<void>
    /**
     * For tracked volumes published before this process started, once the node's pods
     * are listed: retires those whose pod is not on the list or is another pod now, and
     * returns their ids. An empty list judges nothing: even the driver's own pod would be
     * on it, so --node-id does not name this node.
     */
    readonly judgeListed: (volumeIds: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>>
  }
>()("csi/GonePods") {
  static readonly layer = Layer.effect(
    GonePods,
    Effect.gen(function* () {
      const pods = yield* Pods
      const lifecycle = yield* Lifecycle
      const context = yield* Effect.context<VolumeStore | CertificateRequests | VolumeLocks>()
      // Each retirement runs as an element of one stream: the merge is made once, not per pod.
      const provided = providerOf(context)
      // By namespace, then pod name: no "namespace/name" key string per volume.
      const byPod = new Map<string, Map<string, Followers>>()
      const followersAt = (namespace: string, name: string) => followersOf(byPod.get(namespace)?.get(name))
      const setFollowers = (namespace: string, name: string, followers: ReadonlyArray<Followed>) => {
        const names = byPod.get(namespace) ?? new Map<string, Followers>()
        const [only] = followers
        if (only === undefined) names.delete(name)
        else names.set(name, followers.length === 1 ? only : followers)
        if (names.size === 0) byPod.delete(namespace)
        else byPod.set(namespace, names)
      }
      const byVolume = new Map<string, Followed>()

      const drop = (followed: Followed) => {
        byVolume.delete(followed.volumeId)
        const { namespace, name } = followed.pod
        setFollowers(
          namespace,
          name,
          followersAt(namespace, name).filter((other) => other !== followed),
        )
      }

      const retire = (followed: Followed) =>
        Effect.gen(function* () {
          const store = yield* VolumeStore
          const locks = yield* VolumeLocks
          yield* lifecycle.retire(followed.volumeId, followed.pod)
          yield* deleteVolumeRequests(followed.volumeId)
          yield* Effect.logInfo(
            "the volume's pod is gone: renewals stopped, CertificateRequests deleted; files and mount stay until kubelet unpublishes",
          )
          const at = new Date(yield* Clock.currentTimeMillis).toISOString()
          // Under the lock, after whatever publish holds it (retire has just woken one waiting on issuance).
          yield* locks
            .withLock(
              followed.volumeId,
              undefined,
              store.update(followed.volumeId, (m) => ({ ...m, podGoneAt: at })),
            )
            .pipe(Effect.ignore)
        }).pipe(
          Effect.catchCause((cause) => Effect.logError("could not retire the volume of a gone pod", cause)),
          Effect.annotateLogs({
            volumeId: followed.volumeId,
            pod: `${followed.pod.namespace}/${followed.pod.name}`,
          }),
          provided,
        )

      const departures = yield* Queue.unbounded<Followed>()
      yield* Effect.forkScoped(
        Stream.fromQueue(departures).pipe(
          Stream.mapEffect(retire, { concurrency: retireConcurrency, unordered: true }),
          Stream.runDrain,
        ),
      )

      const judge = (change: PodChange) => {
        const { namespace, name, uid } = change.object.metadata
        // `drop` replaces the pod's entry rather than change it: this loop sees them all.
        for (const followed of followersAt(namespace, name)) {
          if (change._tag === "Upsert" && uid === followed.pod.uid) followed.seen = true
          else if (goneBy(followed.pod, change) && (change._tag === "Delete" || followed.seen)) {
            drop(followed)
            Queue.offerUnsafe(departures, followed)
          }
        }
      }
      // Subscribed before anything is tracked, so no change falls between a look and the watch.
      const changes = yield* pods.changes
      yield* Effect.forkScoped(
        Effect.forever(Effect.map(Queue.takeAll(changes), (batch) => batch.forEach(judge))),
      )

      const track = (volumeId: string, pod: PodInfo) =>
        Effect.gen(function* () {
          if (byVolume.has(volumeId)) return
          const cached = yield* pods.get(pod.namespace, pod.name)
          const followed: Followed = {
            volumeId,
            pod,
            seen: Option.isSome(cached) && cached.value.metadata.uid === pod.uid,
          }
          byVolume.set(volumeId, followed)
          setFollowers(pod.namespace, pod.name, [...followersAt(pod.namespace, pod.name), followed])
        })

      const judgeListed = (volumeIds: ReadonlyArray<string>) =>
        Effect.gen(function* () {
          yield* pods.firstSync
          if (volumeIds.length === 0) return new Set<string>()
          if ((yield* pods.all).length === 0) {
            yield* Effect.logWarning(
              "the node's pod list is empty, without even the driver's own pod: --node-id may not name this node; no volume is judged gone from it",
            )
            return new Set<string>()
          }
          const gone: Array<Followed> = []
          for (const volumeId of volumeIds) {
            const followed = byVolume.get(volumeId)
            if (followed === undefined) continue
            const presence = yield* pods.presence(followed.pod)
            if (presence._tag === "Present") followed.seen = true
            else if (presence._tag === "Absent" || presence._tag === "Replaced") {
              drop(followed)
              gone.push(followed)
            }
          }
          yield* Effect.forEach(gone, retire, { concurrency: retireConcurrency, discard: true })
          return new Set(gone.map((followed) => followed.volumeId))
        })

      return GonePods.of({
        track,
        untrack: (volumeId) =>
          Effect.sync(() => {
            const followed = byVolume.get(volumeId)
            if (followed !== undefined) drop(followed)
          }),
        judgeListed,
      })
    }),
  )
}

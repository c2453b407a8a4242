/**
 * Gone pods over FakePods on TestClock, through the real publish, Lifecycle, GonePods
 * and recovery: a pod deleted, or replaced by another UID after the watch showed ours,
 * retires its volume at once (renewals, a gate wait and an issuance in flight stop, its
 * requests go, files and mount stay) and nothing revives it; a terminating pod or a
 * late event of the pod that held the name before is not gone; at start the first list
 * decides, unless it is empty.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { TestClock } from "effect/testing"
import * as K from "../../src/attributes/keys.js"
import { toStatus } from "../../src/csi/status.js"
import { FakeCertificateRequests } from "../../src/testing/fake-certificate-requests.js"
import { FakePods } from "../../src/testing/fake-pods.js"
import { IssuerBehaviour } from "../../src/testing/issuer/behaviour.js"
import { MemoryVolumeStore } from "../../src/testing/memory-store.js"
import { RecordingMounter } from "../../src/testing/recording-mounter.js"
import { GonePods } from "../../src/volume/gone-pods.js"
import { Lifecycle } from "../../src/volume/lifecycle.js"
import { Mounter } from "../../src/volume/mounter.js"
import { publish } from "../../src/volume/publish.js"
import { recordOf } from "../../src/volume/record.js"
import { recoverVolumes } from "../../src/volume/recovery.js"
import { VolumeStore } from "../../src/volume/store.js"
import { unpublish } from "../../src/volume/unpublish.js"
import {
  eventually,
  newVolumeId,
  pod,
  publishRequest,
  settle,
  submittedCount,
  targetPathOf,
  testLayer,
  unpublishRequest,
  volumeOf,
} from "./programs-support.js"

const putPod = (fields: { uid?: string; deleting?: boolean } = {}) =>
  FakePods.use((pods) => pods.put({ namespace: pod.namespace, name: pod.name, uid: pod.uid, ...fields }))

const removePod = FakePods.use((pods) => pods.remove(pod.namespace, pod.name))

const stateTag = (volumeId: string) =>
  Lifecycle.use((lifecycle) => lifecycle.state(volumeId)).pipe(
    Effect.map(Option.match({ onNone: () => "none", onSome: (state) => state._tag as string })),
  )

const isRetired = (volumeId: string) =>
  Lifecycle.use((lifecycle) => lifecycle.state(volumeId)).pipe(
    Effect.map(
      (state) =>
        Option.isSome(state) && state.value._tag === "Failed" && state.value.error._tag === "PodGone",
    ),
  )

const liveRequests = (volumeId: string) => FakeCertificateRequests.use((fake) => fake.live(volumeId))

/** Past the renewal of the fake issuer's default 720h certificate (at 2/3, minus a little jitter). */
const pastRenewal = "481 hours"

/** The volume is retired: stopped, no request left, its metadata marked; files and mount as they were. */
const assertRetired = (volumeId: string, generation: number) =>
  Effect.gen(function* () {
    yield* eventually(isRetired(volumeId), "the volume retired")
    yield* eventually(
      Effect.map(volumeOf(volumeId), (v) => Option.getOrThrow(v.metadata).podGoneAt !== undefined),
      "the mark in its metadata",
    )
    assert.deepStrictEqual(yield* liveRequests(volumeId), [])
    const volume = yield* volumeOf(volumeId)
    assert.strictEqual(volume.generation, generation, "the files stay as they were")
    assert.isTrue((yield* (yield* RecordingMounter).mounts).has(targetPathOf(volumeId)), "still mounted")
  })

/** Time runs past the next renewal and nothing is requested. */
const assertNoRenewal = Effect.gen(function* () {
  const before = yield* submittedCount
  yield* TestClock.adjust(pastRenewal)
  yield* settle
  assert.strictEqual(yield* submittedCount, before)
})

describe("gone pods at runtime", () => {
  it.effect("the pod deleted: renewals stop and its requests go at once; files and mount stay", () =>
    Effect.gen(function* () {
      yield* putPod()
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      assert.strictEqual((yield* liveRequests(id)).length, 1)
      yield* removePod
      yield* assertRetired(id, 1)
      assert.strictEqual((yield* FakeCertificateRequests.use((f) => f.removed)).length, 1)
      yield* assertNoRenewal
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("another UID under the name, once the watch showed ours: gone", () =>
    Effect.gen(function* () {
      yield* putPod()
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      // A StatefulSet's replacement: the old pod deleted, a new one with the name.
      yield* putPod({ uid: "8d1e2f3a-0000-4000-8000-0000000000ff" })
      yield* assertRetired(id, 1)
      yield* assertNoRenewal
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("a late event of the pod that held the name before ours is not ours going", () =>
    Effect.gen(function* () {
      // The watch still has the name's previous pod when kubelet publishes for the new one.
      yield* putPod({ uid: "8d1e2f3a-0000-4000-8000-0000000000aa" })
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      const pods = yield* FakePods
      // Its last events arrive: changed (terminating), then deleted; then ours is added.
      yield* pods.update(pod.namespace, pod.name, { deleting: true })
      yield* pods.remove(pod.namespace, pod.name)
      yield* putPod()
      yield* settle
      assert.strictEqual(yield* stateTag(id), "Issued")
      assert.strictEqual((yield* liveRequests(id)).length, 1)
      // Now the watch has shown ours: its own deletion is gone.
      yield* removePod
      yield* assertRetired(id, 1)
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("a terminating pod (deletionTimestamp) is not gone: it is renewed through its grace period", () =>
    Effect.gen(function* () {
      yield* putPod()
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      yield* FakePods.use((pods) => pods.update(pod.namespace, pod.name, { deleting: true }))
      yield* settle
      yield* TestClock.adjust(pastRenewal)
      yield* eventually(
        Effect.map(submittedCount, (n) => n === 2),
        "the renewal",
      )
      assert.strictEqual(yield* stateTag(id), "Issued")
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("a republish of a gone volume answers OK from its mount and revives nothing", () =>
    Effect.gen(function* () {
      yield* putPod()
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      yield* removePod
      yield* assertRetired(id, 1)
      yield* publish(publishRequest(id))
      assert.isTrue(yield* isRetired(id))
      yield* assertNoRenewal
      // Kubelet's unpublish then takes it all down, as for any volume.
      yield* unpublish(unpublishRequest(id))
      assert.deepStrictEqual(yield* MemoryVolumeStore.use((s) => s.volumeIds), [])
      assert.strictEqual(yield* stateTag(id), "none")
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("a gate wait stops: no request is ever made for the gone pod", () =>
    Effect.gen(function* () {
      yield* putPod()
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      yield* settle
      assert.strictEqual(yield* stateTag(id), "Issuing")
      yield* removePod
      yield* eventually(isRetired(id), "the volume retired")
      yield* TestClock.adjust("1 hour")
      yield* settle
      assert.strictEqual(yield* submittedCount, 0)
      assert.strictEqual((yield* volumeOf(id)).generation, 0)
    }).pipe(
      Effect.provide(
        testLayer({
          config: {
            continueOnNotReady: true,
            readinessGates: [{ _tag: "PodAnnotation", key: "example.com/attached" }],
          },
        }),
      ),
    ),
  )

  it.effect("a publish waiting on the issuer hears PodGone (FAILED_PRECONDITION); its request goes", () =>
    Effect.gen(function* () {
      yield* putPod()
      const id = newVolumeId()
      const waiting = yield* Effect.forkChild(
        Effect.exit(publish(publishRequest(id, { with: { [K.IssuerNameKey]: "slow" } }))),
      )
      yield* eventually(
        Effect.map(submittedCount, (n) => n === 1),
        "the request",
      )
      yield* removePod
      const exit = yield* Fiber.join(waiting)
      const status = toStatus(exit)
      assert.strictEqual(status.name, "FAILED_PRECONDITION")
      assert.include(status.details, `pod ${pod.namespace}/${pod.name} was deleted or replaced`)
      assert.deepStrictEqual(yield* liveRequests(id), [])
      assert.deepStrictEqual(yield* MemoryVolumeStore.use((s) => s.volumeIds), [])
      assert.strictEqual((yield* (yield* RecordingMounter).mounts).size, 0)
    }).pipe(Effect.provide(testLayer({ issuers: { slow: IssuerBehaviour.signAfter("1 hour") } }))),
  )

  it.effect("an unpublished volume is followed no more: its pod's deletion later touches nothing", () =>
    Effect.gen(function* () {
      yield* putPod()
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      yield* unpublish(unpublishRequest(id))
      const removed = (yield* FakeCertificateRequests.use((f) => f.removed)).length
      yield* removePod
      yield* settle
      assert.strictEqual((yield* FakeCertificateRequests.use((f) => f.removed)).length, removed)
      assert.strictEqual(yield* stateTag(id), "none")
    }).pipe(Effect.provide(testLayer())),
  )
})

/** What an earlier run of the driver left: an issued volume of `uid`'s pod, mounted. */
const leftByEarlierRun = (uid: string) =>
  Effect.gen(function* () {
    const id = newVolumeId()
    const request = publishRequest(id, {
      pod: { ...pod, uid },
      with: { [K.PodUidKey]: uid },
    })
    yield* publish(request)
    // The earlier run's memory goes with it; the store and the mounts stay.
    yield* Lifecycle.use((lifecycle) => lifecycle.stop(id))
    yield* GonePods.use((gone) => gone.untrack(id))
    return id
  })

describe("gone pods at start", () => {
  it.effect("the first list decides: absent or replaced pods are retired, present ones resumed", () =>
    Effect.gen(function* () {
      const pods = yield* FakePods
      const present = yield* leftByEarlierRun("uid-present")
      const absent = yield* leftByEarlierRun("uid-absent")
      yield* pods.put({ namespace: "team-a", name: "other-pod" })
      yield* pods.put({ namespace: pod.namespace, name: pod.name, uid: "uid-present" })
      const replaced = yield* leftByEarlierRun("uid-replaced")

      yield* recoverVolumes
      assert.strictEqual(yield* stateTag(present), "Issued")
      for (const id of [absent, replaced]) yield* assertRetired(id, 1)
      // Past the renewals: only the volume whose pod is there is renewed.
      yield* TestClock.adjust(pastRenewal)
      yield* eventually(
        Effect.map(volumeOf(present), (v) => v.generation === 2),
        "the renewal of the present pod's volume",
      )
      for (const id of [absent, replaced]) {
        assert.deepStrictEqual(yield* liveRequests(id), [])
        assert.strictEqual((yield* volumeOf(id)).generation, 1)
      }
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("an empty list (not even the driver's own pod: a wrong --node-id) judges nothing", () =>
    Effect.gen(function* () {
      const id = yield* leftByEarlierRun(pod.uid)
      yield* recoverVolumes
      assert.strictEqual(yield* stateTag(id), "Issued")
      assert.strictEqual((yield* liveRequests(id)).length, 1)
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("a volume retired before the restart stays retired; its republish revives nothing", () =>
    Effect.gen(function* () {
      const store = yield* VolumeStore
      const id = newVolumeId()
      const metadata = recordOf(publishRequest(id), new Date(0)).metadata
      yield* store.register({ ...metadata, podGoneAt: new Date(0).toISOString() })
      // Still mounted: kubelet has not unpublished it yet.
      yield* (yield* Mounter).bindReadOnly(store.dataDir(id), targetPathOf(id))
      yield* recoverVolumes
      assert.strictEqual(yield* stateTag(id), "none")
      // Kubelet's republish: answered from the mount, and the volume stays retired.
      yield* publish(publishRequest(id))
      assert.isTrue(yield* isRetired(id))
      yield* assertNoRenewal
    }).pipe(Effect.provide(testLayer())),
  )
})

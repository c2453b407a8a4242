/**
 * A data root replaced under a running pod, through publish over fakes: a target that
 * still holds the volume's bind from an earlier tmpfs is taken back as the data
 * directory (RecordingMounter's "adopted"), nothing is mounted on the target, the files
 * there say when to renew, and unpublish takes the data directory's bind down with the
 * volume. The real mounts are in mounter.test.ts; the whole story in e2e/data-root.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import * as K from "../../src/attributes/keys.js"
import { FakeCertificateRequests } from "../../src/testing/fake-certificate-requests.js"
import { IssuerBehaviour } from "../../src/testing/issuer/behaviour.js"
import { MemoryVolumeStore } from "../../src/testing/memory-store.js"
import { RecordingMounter } from "../../src/testing/recording-mounter.js"
import { Lifecycle } from "../../src/volume/lifecycle.js"
import { Mounter } from "../../src/volume/mounter.js"
import { publish } from "../../src/volume/publish.js"
import { VolumeStore } from "../../src/volume/store.js"
import { unpublish } from "../../src/volume/unpublish.js"
import {
  eventually,
  newVolumeId,
  publishRequest,
  settle,
  submittedCount,
  targetPathOf,
  testLayer,
  unpublishRequest,
  volumeOf,
} from "./programs-support.js"

const operations = RecordingMounter.use((mounter) => mounter.calls).pipe(
  Effect.map((calls) => calls.map((call) => call.operation)),
)

/**
 * An issued, mounted volume whose driver restarted on a new data root: the pod's target
 * holds the earlier tmpfs, the new root only what kubelet's republish registered again
 * (no issuance). The memory store keeps the files: they are what the earlier tmpfs shows.
 */
const strandedByNewDataRoot = (volumeId: string) =>
  Effect.gen(function* () {
    const store = yield* VolumeStore
    const mounter = yield* Mounter
    const recording = yield* RecordingMounter
    yield* publish(publishRequest(volumeId))
    yield* Lifecycle.use((lifecycle) => lifecycle.stop(volumeId))
    yield* store.update(volumeId, ({ issuance: _, ...rest }) => rest)
    yield* mounter.unbind(store.dataDir(volumeId), targetPathOf(volumeId))
    yield* recording.mountEarlier(store.dataDir(volumeId), targetPathOf(volumeId))
    return Option.getOrThrow((yield* volumeOf(volumeId)).metadata)
  })

describe("a target holding the volume from an earlier data root", () => {
  it.effect(
    "is taken back as the data directory, writable; nothing is mounted on the target; publish answers at once and issues there",
    () =>
      Effect.gen(function* () {
        const id = newVolumeId()
        const store = yield* VolumeStore
        const recording = yield* RecordingMounter
        yield* recording.mountEarlier(store.dataDir(id), targetPathOf(id))
        // Without --continue-on-not-ready, and an issuer that takes an hour: still at once.
        yield* publish(publishRequest(id, { with: { [K.IssuerNameKey]: "slow" } }))
        const mounts = yield* recording.mounts
        assert.deepStrictEqual(mounts.get(store.dataDir(id)), { kind: "adopted", from: targetPathOf(id) })
        assert.strictEqual(mounts.get(targetPathOf(id))?.kind, "earlier")
        assert.notInclude(yield* operations, "bindReadOnly")
        // The old files could not be kept (there are none): a new certificate, written there.
        yield* eventually(
          Effect.map(submittedCount, (n) => n === 1),
          "the request",
        )
        yield* TestClock.adjust("1 hour")
        yield* eventually(
          Effect.map(volumeOf(id), (v) => v.generation === 1),
          "the files",
        )
        // A republish now finds it bound, as any mounted volume.
        yield* publish(publishRequest(id, { with: { [K.IssuerNameKey]: "slow" } }))
        assert.strictEqual((yield* operations).filter((op) => op === "adoptEarlier").length, 1)
        assert.notInclude(yield* operations, "bindReadOnly")
      }).pipe(Effect.provide(testLayer({ issuers: { slow: IssuerBehaviour.signAfter("1 hour") } }))),
  )

  it.effect("valid files there set the renewal time; no request until it is due", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* strandedByNewDataRoot(id)
      const issued = Option.getOrThrow((yield* volumeOf(id)).metadata)
      assert.isUndefined(issued.issuance)
      yield* publish(publishRequest(id))
      const kept = Option.getOrThrow((yield* volumeOf(id)).metadata).issuance
      assert.isDefined(kept)
      assert.isUndefined(kept?.requestName)
      assert.strictEqual(yield* submittedCount, 1, "nothing requested: the files are good")
      assert.strictEqual(Option.getOrThrow(yield* Lifecycle.use((l) => l.state(id)))._tag, "Issued")
      // Due at 2/3 of the 720h lifetime: renewed then, into the taken-back directory.
      yield* TestClock.adjust("479 hours")
      yield* settle
      assert.strictEqual(yield* submittedCount, 1)
      yield* TestClock.adjust("2 hours")
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 2),
        "the renewal",
      )
      assert.strictEqual(yield* submittedCount, 2)
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("expired files there: renewed at once", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* strandedByNewDataRoot(id)
      yield* TestClock.adjust("800 hours")
      yield* publish(publishRequest(id))
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 2),
        "the new certificate",
      )
      assert.strictEqual(yield* submittedCount, 2)
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("unpublish takes the data directory's bind down with the volume", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      const store = yield* VolumeStore
      yield* strandedByNewDataRoot(id)
      yield* publish(publishRequest(id))
      yield* unpublish(unpublishRequest(id))
      assert.strictEqual((yield* (yield* RecordingMounter).mounts).size, 0)
      assert.deepStrictEqual(yield* MemoryVolumeStore.use((s) => s.volumeIds), [])
      const ops = yield* operations
      assert.isBelow(ops.lastIndexOf("unbind"), ops.lastIndexOf("unmountAll"))
      assert.deepStrictEqual(yield* FakeCertificateRequests.use((f) => f.live(id)), [])
      assert.isFalse((yield* (yield* RecordingMounter).mounts).has(store.dataDir(id)))
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("a target bound from the current data root is left as it is", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      yield* Lifecycle.use((lifecycle) => lifecycle.stop(id))
      yield* (yield* VolumeStore).update(id, ({ issuance: _, ...rest }) => rest)
      yield* publish(publishRequest(id))
      const mounts = yield* RecordingMounter.use((m) => m.mounts)
      assert.strictEqual(mounts.size, 1)
      assert.strictEqual(mounts.get(targetPathOf(id))?.kind, "bind")
    }).pipe(Effect.provide(testLayer())),
  )
})

/**
 * The unpublish program over fakes: it cancels the volume's lifecycle before
 * anything else, unmounts, deletes the requests and the store entry; an unknown
 * volume answers OK, and so does a second unpublish.
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
import { publish } from "../../src/volume/publish.js"
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
} from "./programs-support.js"

describe("unpublish", () => {
  it.effect("stops the renewal, unmounts, removes the entry and the requests; no issuance after", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      const fake = yield* FakeCertificateRequests
      const [request] = yield* fake.submitted
      const lifecycle = yield* Lifecycle
      assert.strictEqual(yield* lifecycle.size, 1)

      yield* unpublish(unpublishRequest(id))

      const store = yield* MemoryVolumeStore
      const mounter = yield* RecordingMounter
      assert.strictEqual(yield* lifecycle.size, 0)
      assert.isTrue(Option.isNone(yield* lifecycle.state(id)))
      assert.deepStrictEqual(yield* store.volumeIds, [])
      assert.strictEqual((yield* mounter.mounts).size, 0)
      assert.deepStrictEqual(
        (yield* mounter.calls).filter((c) => c.operation === "unbind"),
        [{ operation: "unbind", source: `/csi-data-dir/${id}/data`, target: targetPathOf(id) }],
      )
      assert.deepStrictEqual(yield* fake.live(id), [])
      assert.deepStrictEqual(yield* fake.removed, [{ namespace: "team-a", name: request?.name }])

      // The default 720h certificate would renew at 480h: a year later still one request.
      yield* TestClock.adjust("365 days")
      yield* settle
      assert.strictEqual(yield* submittedCount, 1)
      assert.deepStrictEqual(yield* store.volumeIds, [])
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("cancels an issuance in flight: its request is deleted and nothing is written afterwards", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id, { with: { [K.IssuerNameKey]: "later" } }))
      yield* eventually(
        Effect.map(submittedCount, (n) => n === 1),
        "the request",
      )
      yield* settle

      yield* unpublish(unpublishRequest(id))
      const fake = yield* FakeCertificateRequests
      const lifecycle = yield* Lifecycle
      assert.strictEqual(yield* lifecycle.size, 0)
      assert.deepStrictEqual(yield* fake.live(id), [])

      yield* fake.setBehaviour("later", IssuerBehaviour.sign())
      yield* TestClock.adjust("1 hour")
      yield* settle
      const store = yield* MemoryVolumeStore
      assert.deepStrictEqual(yield* store.volumeIds, [])
      assert.strictEqual(yield* submittedCount, 1)
    }).pipe(
      Effect.provide(
        testLayer({ config: { continueOnNotReady: true }, issuers: { later: IssuerBehaviour.pending() } }),
      ),
    ),
  )

  it.effect("an unknown volume answers OK, and unpublish is idempotent", () =>
    Effect.gen(function* () {
      yield* unpublish(unpublishRequest(newVolumeId()))
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      yield* unpublish(unpublishRequest(id))
      yield* unpublish(unpublishRequest(id))
      const store = yield* MemoryVolumeStore
      assert.deepStrictEqual(yield* store.volumeIds, [])
      const fake = yield* FakeCertificateRequests
      assert.strictEqual((yield* fake.removed).length, 1)
    }).pipe(Effect.provide(testLayer())),
  )
})

describe("unpublish of a volume whose metadata cannot be read", () => {
  // Unreadable metadata must not keep a pod Terminating.
  it.effect("still unmounts and removes the volume", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      const store = yield* MemoryVolumeStore
      yield* store.corruptMetadata(id)
      yield* unpublish(unpublishRequest(id))
      assert.deepStrictEqual(yield* store.volumeIds, [])
      assert.deepStrictEqual(yield* (yield* FakeCertificateRequests).live(id), [])
    }).pipe(Effect.provide(testLayer())),
  )
})

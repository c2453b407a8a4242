/**
 * Publish against each unusable answer the sandbox issuer can give, over fakes:
 * FAILED_PRECONDITION naming the request and the reason, an IssuanceFailed event,
 * the request deleted, no key, nothing mounted. And the good chain through an
 * intermediate, accepted and written as it came.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as K from "../../src/attributes/keys.js"
import { toStatus } from "../../src/csi/status.js"
import { FakeCertificateRequests } from "../../src/testing/fake-certificate-requests.js"
import { MemoryVolumeStore } from "../../src/testing/memory-store.js"
import { RecordingPodEvents } from "../../src/testing/recording-events.js"
import { RecordingMounter } from "../../src/testing/recording-mounter.js"
import { Lifecycle } from "../../src/volume/lifecycle.js"
import { publish } from "../../src/volume/publish.js"
import { expectedRefusals } from "../support/bad-answers.js"
import { opensslOk, tempDir } from "../support/openssl.js"
import { fileText, newVolumeId, publishRequest, testLayer, volumeOf } from "./programs-support.js"

describe("publish refuses an unusable answer", () => {
  for (const [issuer, tag, reason] of expectedRefusals) {
    it.effect(
      `${issuer}: FAILED_PRECONDITION (${reason}), IssuanceFailed, request deleted, nothing left`,
      () =>
        Effect.gen(function* () {
          const id = newVolumeId()
          const exit = yield* Effect.exit(
            publish(publishRequest(id, { with: { [K.IssuerNameKey]: issuer } })),
          )
          const status = toStatus(exit)
          assert.strictEqual(status.name, "FAILED_PRECONDITION", status.details)
          assert.isTrue(Exit.isFailure(exit))
          const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
          assert.strictEqual(error?._tag === "Some" ? error.value._tag : undefined, tag)

          const fake = yield* FakeCertificateRequests
          const [request, ...more] = yield* fake.submitted
          assert.lengthOf(more, 0)
          assert.include(status.details, `team-a/${request?.name}`)
          assert.include(status.details, reason)
          assert.include(status.details, issuer)
          assert.isAtMost(status.details.length, 2048)
          assert.notInclude(status.details, "-----")

          const events = yield* RecordingPodEvents.use((r) => r.events)
          assert.deepStrictEqual(
            events.map((e) => [e.type, e.reason, e.message]),
            [["Warning", "IssuanceFailed", status.details]],
          )
          assert.deepStrictEqual(yield* fake.removed, [{ namespace: "team-a", name: request?.name }])
          assert.deepStrictEqual(yield* fake.live(id), [])
          // No volume, so no key and no pending key; nothing mounted; no fiber.
          assert.deepStrictEqual(yield* MemoryVolumeStore.use((s) => s.volumeIds), [])
          assert.strictEqual((yield* RecordingMounter.use((m) => m.mounts)).size, 0)
          assert.strictEqual(yield* Lifecycle.use((l) => l.size), 0)
        }).pipe(Effect.provide(testLayer())),
    )
  }
})

describe("publish accepts a chain through an intermediate", () => {
  it.effect(
    "intermediate-issuer: leaf and intermediate in tls.crt, the root in ca.crt, as openssl verifies",
    () =>
      Effect.gen(function* () {
        const id = newVolumeId()
        yield* publish(publishRequest(id, { with: { [K.IssuerNameKey]: "intermediate-issuer" } }))
        const volume = yield* volumeOf(id)
        const certificate = fileText(volume, "tls.crt") ?? ""
        const ca = fileText(volume, "ca.crt") ?? ""
        assert.lengthOf(certificate.match(/-----BEGIN CERTIFICATE-----\n/g) ?? [], 2)
        assert.lengthOf(ca.match(/-----BEGIN CERTIFICATE-----\n/g) ?? [], 1)
        assert.strictEqual(ca, `${(yield* (yield* FakeCertificateRequests).ca).certificatePem.trimEnd()}\n`)
        const t = tempDir()
        try {
          const crt = t.file("tls.crt", certificate)
          const root = t.file("ca.crt", ca)
          // TestClock starts at the epoch: check at the issuance time, not today.
          assert.include(
            opensslOk(["verify", "-attime", "60", "-CAfile", root, "-untrusted", crt, crt]),
            "OK",
          )
          assert.include(opensslOk(["x509", "-in", crt, "-noout", "-issuer"]), "intermediate")
        } finally {
          t.cleanup()
        }
      }).pipe(Effect.provide(testLayer())),
  )
})

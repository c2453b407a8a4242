/**
 * The publish program over fakes: what it writes, mounts and asks the API for, how
 * it waits for the issuer, and that every failure leaves nothing behind (except a
 * request still in flight at the deadline, which a retry joins).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import * as K from "../../src/attributes/keys.js"
import { KeyGenerator } from "../../src/pki/keys.js"
import { FakeCertificateRequests } from "../../src/testing/fake-certificate-requests.js"
import { FakeKeyGenerator } from "../../src/testing/fake-keys.js"
import { IssuerBehaviour } from "../../src/testing/issuer/behaviour.js"
import { MemoryVolumeStore, memoryStoreRoot } from "../../src/testing/memory-store.js"
import { RecordingMounter } from "../../src/testing/recording-mounter.js"
import { Lifecycle } from "../../src/volume/lifecycle.js"
import { publish } from "../../src/volume/publish.js"
import { opensslOk, tempDir } from "../support/openssl.js"
import {
  eventually,
  fileText,
  newVolumeId,
  publishRequest,
  settle,
  submittedCount,
  targetPathOf,
  testLayer,
  tokenValid,
  volumeOf,
} from "./programs-support.js"

/** The fake's keys, but the second key dies: a defect in the renewal, not an error. */
/** Dies on the second key only: the renewal it breaks succeeds once the volume is revived. */
const dyingOnSecondKey = Layer.effect(
  KeyGenerator,
  Effect.gen(function* () {
    const inner = yield* KeyGenerator
    let calls = 0
    return KeyGenerator.of({
      generate: (spec) =>
        Effect.suspend(() =>
          ++calls === 2 ? Effect.die(new Error("injected defect")) : inner.generate(spec),
        ),
      parse: inner.parse,
    })
  }),
).pipe(Layer.provide(FakeKeyGenerator.layer))

/** Nothing of the volume is left: no store entry, no mount, no live request, no fiber. */
const assertNothingLeft = (volumeId: string) =>
  Effect.gen(function* () {
    const store = yield* MemoryVolumeStore
    const mounter = yield* RecordingMounter
    const fake = yield* FakeCertificateRequests
    const lifecycle = yield* Lifecycle
    assert.deepStrictEqual(yield* store.volumeIds, [])
    assert.strictEqual((yield* mounter.mounts).size, 0)
    assert.deepStrictEqual(yield* fake.live(volumeId), [])
    assert.strictEqual(yield* lifecycle.size, 0)
  })

describe("publish", () => {
  it.effect("issues, writes the files, then bind-mounts the data dir read-only, with one request", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id))

      const fake = yield* FakeCertificateRequests
      const submitted = yield* fake.submitted
      assert.strictEqual(submitted.length, 1)
      const [request] = submitted
      assert.strictEqual(request?.volumeId, id)
      assert.strictEqual(request?.namespace, "team-a")
      assert.strictEqual(request?.issuer, "ca-issuer")
      assert.strictEqual(request?.hasToken, false)
      assert.deepStrictEqual(yield* fake.live(id), [{ namespace: "team-a", name: request?.name }])

      const volume = yield* volumeOf(id)
      assert.deepStrictEqual([...volume.files.keys()].sort(), ["ca.crt", "tls.crt", "tls.key"])
      assert.strictEqual(volume.generation, 1)
      const metadata = Option.getOrThrow(volume.metadata)
      assert.strictEqual(metadata.issuance?.requestName, request?.name)
      assert.strictEqual(metadata.pendingRequest, undefined)
      assert.strictEqual(volume.secrets.size, 0, "the pending key is gone once issued")

      const mounter = yield* RecordingMounter
      const mounts = yield* mounter.mounts
      assert.deepStrictEqual(
        [...mounts],
        [[targetPathOf(id), { kind: "bind", source: `${memoryStoreRoot}/${id}/data`, readOnly: true }]],
      )

      // The files are a real chain and key: openssl checks the chain and that the key fits.
      const t = tempDir()
      try {
        const ca = t.file("ca.crt", fileText(volume, "ca.crt"))
        const crt = t.file("tls.crt", fileText(volume, "tls.crt"))
        const key = t.file("tls.key", fileText(volume, "tls.key"))
        // TestClock starts at the epoch: check at the issuance time, not today.
        assert.include(opensslOk(["verify", "-attime", "60", "-CAfile", ca, crt]), "OK")
        assert.include(
          opensslOk(["x509", "-in", crt, "-noout", "-ext", "subjectAltName"]),
          "DNS:app.team-a.svc",
        )
        assert.strictEqual(
          opensslOk(["x509", "-in", crt, "-noout", "-pubkey"]),
          opensslOk(["pkey", "-in", key, "-pubout"]),
        )
      } finally {
        t.cleanup()
      }
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("republish of an issued, mounted volume returns at once with no API call", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      const fake = yield* FakeCertificateRequests
      const mounter = yield* RecordingMounter
      const writes = yield* fake.writes
      const binds = (yield* mounter.calls).filter((c) => c.operation === "bindReadOnly").length

      yield* publish(publishRequest(id))

      assert.strictEqual(yield* fake.writes, writes)
      assert.strictEqual(yield* submittedCount, 1)
      assert.strictEqual((yield* mounter.calls).filter((c) => c.operation === "bindReadOnly").length, binds)
      assert.strictEqual((yield* volumeOf(id)).generation, 1)
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect(
    "two concurrent publishes of one volume: one request, both succeed, mounted only after the files",
    () =>
      Effect.gen(function* () {
        const id = newVolumeId()
        const first = yield* Effect.forkChild(
          publish(publishRequest(id, { with: { [K.IssuerNameKey]: "slow" } })),
        )
        const second = yield* Effect.forkChild(
          publish(publishRequest(id, { with: { [K.IssuerNameKey]: "slow" } })),
        )
        yield* eventually(
          Effect.map(submittedCount, (n) => n === 1),
          "the request",
        )
        yield* settle
        const mounter = yield* RecordingMounter
        assert.strictEqual(
          (yield* mounter.mounts).size,
          0,
          "nothing is mounted before the certificate is there",
        )
        assert.strictEqual((yield* volumeOf(id)).generation, 0)

        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(first)
        yield* Fiber.join(second)

        assert.strictEqual(yield* submittedCount, 1)
        assert.strictEqual((yield* volumeOf(id)).generation, 1)
        assert.strictEqual((yield* mounter.mounts).size, 1)
        assert.strictEqual((yield* mounter.calls).filter((c) => c.operation === "bindReadOnly").length, 1)
      }).pipe(Effect.provide(testLayer({ issuers: { slow: IssuerBehaviour.signAfter("10 seconds") } }))),
  )

  for (const [issuer, tag] of [
    ["deny-issuer", "RequestDenied"],
    ["fail-issuer", "RequestFailed"],
    ["malformed-issuer", "CertificateInvalid"],
  ] as const) {
    it.effect(`${issuer}: fails with ${tag} and leaves nothing (no entry, no mount, request removed)`, () =>
      Effect.gen(function* () {
        const id = newVolumeId()
        const error = yield* Effect.flip(publish(publishRequest(id, { with: { [K.IssuerNameKey]: issuer } })))
        assert.strictEqual(error._tag, tag)
        const fake = yield* FakeCertificateRequests
        const [request] = yield* fake.submitted
        assert.include(error.message, `team-a/${request?.name}`)
        assert.deepStrictEqual(yield* fake.removed, [{ namespace: "team-a", name: request?.name }])
        yield* assertNothingLeft(id)
      }).pipe(Effect.provide(testLayer())),
    )
  }

  it.effect("an API error on submit fails the publish and leaves nothing", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      const fake = yield* FakeCertificateRequests
      yield* fake.failNextSubmit(503)
      const error = yield* Effect.flip(publish(publishRequest(id)))
      assert.strictEqual(error._tag, "KubeApiError")
      assert.strictEqual(yield* submittedCount, 0)
      yield* assertNothingLeft(id)
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect(
    "pending past the deadline: IssuancePending naming the request, kept; a retry after signing joins it",
    () =>
      Effect.gen(function* () {
        const id = newVolumeId()
        const request = publishRequest(id, { with: { [K.IssuerNameKey]: "later" }, deadline: 10_000 })
        const fiber = yield* Effect.forkChild(Effect.flip(publish(request)))
        yield* eventually(
          Effect.map(submittedCount, (n) => n === 1),
          "the request",
        )
        yield* settle
        yield* TestClock.adjust("10 seconds")
        const error = yield* Fiber.join(fiber)

        const fake = yield* FakeCertificateRequests
        const [submitted] = yield* fake.submitted
        const name = `team-a/${submitted?.name}`
        assert.strictEqual(error._tag, "IssuancePending")
        if (error._tag !== "IssuancePending") return
        assert.strictEqual(error.request, name)
        assert.strictEqual(error.issuer, "later")
        assert.include(error.message, name)
        assert.include(error.conditions, "Ready=False (Pending")
        // Answered a second before the deadline, so the answer reaches kubelet in time.
        assert.strictEqual(
          yield* TestClock.testClockWith((c) => Effect.succeed(c.currentTimeMillisUnsafe())),
          10_000,
        )
        assert.deepStrictEqual(yield* fake.live(id), [{ namespace: "team-a", name: submitted?.name }])
        assert.deepStrictEqual(Option.getOrThrow((yield* volumeOf(id)).metadata).pendingRequest, {
          namespace: "team-a",
          name: submitted?.name,
        })
        const mounter = yield* RecordingMounter
        assert.strictEqual((yield* mounter.mounts).size, 0)

        yield* fake.setBehaviour("later", IssuerBehaviour.sign())
        yield* eventually(
          Effect.map(volumeOf(id), (v) => v.generation === 1),
          "the issuance to finish in the background",
        )
        yield* publish({ ...request, deadline: 30_000 })
        assert.strictEqual(yield* submittedCount, 1)
        assert.strictEqual((yield* mounter.mounts).size, 1)
      }).pipe(Effect.provide(testLayer({ issuers: { later: IssuerBehaviour.pending() } }))),
  )

  it.effect("a retry while the request is still pending joins it, and succeeds once it is signed", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      const request = publishRequest(id, { with: { [K.IssuerNameKey]: "later" }, deadline: 10_000 })
      const first = yield* Effect.forkChild(Effect.exit(publish(request)))
      yield* eventually(
        Effect.map(submittedCount, (n) => n === 1),
        "the request",
      )
      yield* settle
      yield* TestClock.adjust("10 seconds")
      assert.isTrue(Exit.isFailure(yield* Fiber.join(first)))

      const retry = yield* Effect.forkChild(publish({ ...request, deadline: 30_000 }))
      yield* settle
      const fake = yield* FakeCertificateRequests
      yield* fake.setBehaviour("later", IssuerBehaviour.sign())
      yield* Fiber.join(retry)
      assert.strictEqual(yield* submittedCount, 1)
      assert.strictEqual((yield* volumeOf(id)).generation, 1)
    }).pipe(Effect.provide(testLayer({ issuers: { later: IssuerBehaviour.pending() } }))),
  )

  it.effect("invalid attributes fail with InvalidAttributes before anything is created", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      const error = yield* Effect.flip(
        publish(publishRequest(id, { with: { "csi.cert-manager.io/dns-name": "typo.example.com" } })),
      )
      assert.strictEqual(error._tag, "InvalidAttributes")
      assert.include(error.message, K.DnsNamesKey)
      const fake = yield* FakeCertificateRequests
      const mounter = yield* RecordingMounter
      assert.strictEqual(yield* fake.writes, 0)
      assert.deepStrictEqual(yield* mounter.calls, [])
      yield* assertNothingLeft(id)
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("--use-token-request without a token fails with TokenMissing before anything is created", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      const error = yield* Effect.flip(publish(publishRequest(id)))
      assert.strictEqual(error._tag, "TokenMissing")
      const fake = yield* FakeCertificateRequests
      const mounter = yield* RecordingMounter
      assert.strictEqual(yield* fake.writes, 0)
      assert.deepStrictEqual(yield* mounter.calls, [])
      yield* assertNothingLeft(id)
    }).pipe(Effect.provide(testLayer({ config: { useTokenRequest: true } }))),
  )

  it.effect("--use-token-request with a token: the request is created with it", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id, { token: tokenValid(new Date(3_600_000)) }))
      const fake = yield* FakeCertificateRequests
      const submitted = yield* fake.submitted
      assert.deepStrictEqual(
        submitted.map((r) => r.hasToken),
        [true],
      )
    }).pipe(Effect.provide(testLayer({ config: { useTokenRequest: true } }))),
  )

  it.effect("without --use-token-request a token kubelet sends is not used", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id, { token: tokenValid(new Date(3_600_000)) }))
      const fake = yield* FakeCertificateRequests
      assert.deepStrictEqual(
        (yield* fake.submitted).map((r) => r.hasToken),
        [false],
      )
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("--continue-on-not-ready mounts at once; the files appear once issued", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id, { with: { [K.IssuerNameKey]: "later" } }))
      const mounter = yield* RecordingMounter
      assert.strictEqual((yield* mounter.mounts).size, 1)
      assert.strictEqual((yield* volumeOf(id)).generation, 0)

      yield* eventually(
        Effect.map(submittedCount, (n) => n === 1),
        "the request",
      )
      const fake = yield* FakeCertificateRequests
      yield* fake.setBehaviour("later", IssuerBehaviour.sign())
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 1),
        "the files",
      )
      assert.deepStrictEqual([...(yield* volumeOf(id)).files.keys()].sort(), ["ca.crt", "tls.crt", "tls.key"])
    }).pipe(
      Effect.provide(
        testLayer({ config: { continueOnNotReady: true }, issuers: { later: IssuerBehaviour.pending() } }),
      ),
    ),
  )

  it.effect("a failing bind mount fails the publish and leaves nothing behind", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      const mounter = yield* RecordingMounter
      yield* mounter.failNext("permission denied", "bindReadOnly")
      const error = yield* Effect.flip(publish(publishRequest(id)))
      assert.strictEqual(error._tag, "MountError")
      const fake = yield* FakeCertificateRequests
      assert.strictEqual((yield* fake.removed).length, 1)
      yield* assertNothingLeft(id)
    }).pipe(Effect.provide(testLayer())),
  )

  // A republish revives a volume whose lifecycle fiber stopped, so its certificate keeps renewing.
  it.effect("republish restarts a volume whose lifecycle stopped", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id, { with: { [K.DurationKey]: "3h" } }))
      const lifecycle = yield* Lifecycle
      yield* settle
      yield* TestClock.adjust("3 hours")
      yield* eventually(
        Effect.map(lifecycle.size, (n) => n === 0),
        "the lifecycle to stop on the defect",
      )

      yield* publish(publishRequest(id, { with: { [K.DurationKey]: "3h" } }))
      assert.strictEqual(yield* lifecycle.size, 1)
      // The revived fiber renews the overdue certificate.
      const fake = yield* FakeCertificateRequests
      yield* eventually(
        Effect.map(fake.submitted, (all) => all.length === 2),
        "the overdue renewal",
      )
    }).pipe(Effect.provide(testLayer({ keys: dyingOnSecondKey }))),
  )
})

/**
 * Renewal on TestClock, through publish and the real Lifecycle: when it happens
 * (renew-before, the 2/3 default, jitter within its bound), what it does to the key,
 * how failed renewals back off without touching the files, and that unpublish leaves
 * no fiber or timer behind. Random is pinned so jitter is known exactly: 0.5 makes
 * the backoff's jitter a factor of 1 and the renewal's half its bound.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Option } from "effect"
import { TestClock } from "effect/testing"
import * as K from "../../src/attributes/keys.js"
import { FakeCertificateRequests } from "../../src/testing/fake-certificate-requests.js"
import { IssuerBehaviour } from "../../src/testing/issuer/behaviour.js"
import { RecordingPodEvents } from "../../src/testing/recording-events.js"
import { Lifecycle } from "../../src/volume/lifecycle.js"
import { publish } from "../../src/volume/publish.js"
import { jitterBound } from "../../src/volume/renewal-time.js"
import { unpublish } from "../../src/volume/unpublish.js"
import { opensslOk, tempDir } from "../support/openssl.js"
import {
  eventually,
  fileText,
  fixedRandom,
  newVolumeId,
  publishRequest,
  settle,
  submittedCount,
  testLayer,
  unpublishRequest,
  volumeOf,
} from "./programs-support.js"

const hour = 3_600_000
/** A 3h certificate: 2/3 is 2h; the jitter bound is 2% of 3h = 216 s (under the 10 min cap). */
const lifetime = 3 * hour
const bound = jitterBound({ notBefore: new Date(0), notAfter: new Date(lifetime) })

const nextIssuanceAt = (volumeId: string) =>
  Effect.map(volumeOf(volumeId), (v) =>
    Date.parse(Option.getOrThrow(v.metadata).issuance?.nextIssuanceAt ?? ""),
  )

/** Moves the clock to `at` (epoch ms) and checks nothing was submitted a millisecond before. */
const expectSubmitAt = (at: number, count: number) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    yield* TestClock.adjust(at - now - 1)
    yield* settle
    assert.strictEqual(yield* submittedCount, count - 1, `no request before ${at}`)
    yield* TestClock.adjust(1)
    yield* eventually(
      Effect.map(submittedCount, (n) => n === count),
      `request ${count} at ${at}`,
    )
  })

/** Waits until the volume's newest request is decided (issued, denied or failed), then lets its fiber sleep. */
const awaitDecided = (volumeId: string) =>
  Effect.gen(function* () {
    const fake = yield* FakeCertificateRequests
    yield* eventually(
      Effect.gen(function* () {
        const all = (yield* fake.submitted).filter((r) => r.volumeId === volumeId)
        const last = all.at(-1)
        if (last === undefined) return false
        const state = yield* fake.stateOf(last)
        // A failed request is deleted as soon as it is decided: gone counts as decided.
        return Option.isNone(state) || state.value !== "Pending"
      }),
      "the newest request to be decided",
    )
    yield* settle
  })

const threeHours = { [K.DurationKey]: "3h" }

describe("renewal time", () => {
  it.effect("defaults to two thirds of the lifetime, brought forward by the jitter", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id, { with: threeHours }))
      const at = (2 * lifetime) / 3 - bound * 0.5
      assert.strictEqual(yield* nextIssuanceAt(id), at)
      yield* settle
      yield* expectSubmitAt(at, 2)
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 2),
        "the renewed files",
      )
    }).pipe(Effect.provide(testLayer()), fixedRandom(0.5)),
  )

  it.effect("is renew-before ahead of notAfter, brought forward by the jitter", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id, { with: { ...threeHours, [K.RenewBeforeKey]: "30m" } }))
      const at = lifetime - 30 * 60_000 - bound * 0.5
      assert.strictEqual(yield* nextIssuanceAt(id), at)
      yield* settle
      yield* expectSubmitAt(at, 2)
    }).pipe(Effect.provide(testLayer()), fixedRandom(0.5)),
  )

  for (const random of [0, 0.999_999]) {
    it.effect(`keeps the jitter within its bound (random ${random})`, () =>
      Effect.gen(function* () {
        const id = newVolumeId()
        yield* publish(publishRequest(id, { with: { ...threeHours, [K.RenewBeforeKey]: "30m" } }))
        const due = lifetime - 30 * 60_000
        const at = yield* nextIssuanceAt(id)
        assert.isAtMost(at, due)
        assert.isAtLeast(at, due - bound)
        assert.approximately(at, due - bound * random, 1)
        yield* settle
        yield* expectSubmitAt(at, 2)
      }).pipe(Effect.provide(testLayer()), fixedRandom(random)),
    )
  }

  it.effect("keeps going: each renewal schedules the next from the new certificate", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id, { with: threeHours }))
      for (let n = 2; n <= 4; n++) {
        const at = yield* nextIssuanceAt(id)
        yield* settle
        yield* expectSubmitAt(at, n)
        yield* eventually(
          Effect.map(volumeOf(id), (v) => v.generation === n),
          `generation ${n}`,
        )
        yield* settle
      }
      const fake = yield* FakeCertificateRequests
      assert.strictEqual((yield* fake.live(id)).length, 1, "older requests are deleted after each renewal")
    }).pipe(Effect.provide(testLayer()), fixedRandom(0.5)),
  )
})

describe("renewal key", () => {
  const renewOnce = (attributes: Record<string, string>) =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id, { with: { ...threeHours, ...attributes } }))
      const before = yield* volumeOf(id)
      yield* settle
      yield* expectSubmitAt(yield* nextIssuanceAt(id), 2)
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 2),
        "the renewed files",
      )
      const after = yield* volumeOf(id)
      // The renewed certificate is for the key written beside it.
      const t = tempDir()
      try {
        const crt = t.file("tls.crt", fileText(after, "tls.crt"))
        const key = t.file("tls.key", fileText(after, "tls.key"))
        assert.strictEqual(
          opensslOk(["x509", "-in", crt, "-noout", "-pubkey"]),
          opensslOk(["pkey", "-in", key, "-pubout"]),
        )
      } finally {
        t.cleanup()
      }
      assert.notStrictEqual(fileText(after, "tls.crt"), fileText(before, "tls.crt"))
      return { before: fileText(before, "tls.key"), after: fileText(after, "tls.key") }
    })

  // The live KeyGenerator: FakeKeyGenerator hands out one key per spec, so a new key would look reused.
  it.effect("reuse-private-key: the renewal keeps the key", () =>
    Effect.gen(function* () {
      const keys = yield* renewOnce({ [K.ReusePrivateKeyKey]: "true" })
      assert.strictEqual(keys.after, keys.before)
    }).pipe(Effect.provide(testLayer({ freshKeys: true })), fixedRandom(0.5)),
  )

  it.effect("without reuse-private-key: the renewal makes a new key", () =>
    Effect.gen(function* () {
      const keys = yield* renewOnce({})
      assert.notStrictEqual(keys.after, keys.before)
    }).pipe(Effect.provide(testLayer({ freshKeys: true })), fixedRandom(0.5)),
  )
})

describe("failed renewal", () => {
  const flaky = { [K.IssuerNameKey]: "flaky", ...threeHours }
  const layer = testLayer({ issuers: { flaky: IssuerBehaviour.sign() } })

  /** Publishes, makes the issuer fail and runs the clock to the first (failing) renewal attempt. */
  const failAtRenewal = (behaviour: IssuerBehaviour) =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id, { with: flaky }))
      const fake = yield* FakeCertificateRequests
      yield* fake.setBehaviour("flaky", behaviour)
      yield* settle
      yield* expectSubmitAt(yield* nextIssuanceAt(id), 2)
      yield* awaitDecided(id)
      return id
    })

  it.effect("retries with exponential backoff from 30 s, capped at 5 min, never touching the files", () =>
    Effect.gen(function* () {
      const id = yield* failAtRenewal(IssuerBehaviour.fail("issuer down"))
      const files = (yield* volumeOf(id)).files
      const certificate = fileText(yield* volumeOf(id), "tls.crt")
      let count = 2
      for (const delay of [30, 60, 120, 240, 300, 300, 300]) {
        const now = yield* Clock.currentTimeMillis
        yield* expectSubmitAt(now + delay * 1000, ++count)
        yield* awaitDecided(id)
        const volume = yield* volumeOf(id)
        assert.strictEqual(volume.generation, 1)
        assert.deepStrictEqual(volume.files, files)
      }

      const fake = yield* FakeCertificateRequests
      yield* fake.setBehaviour("flaky", IssuerBehaviour.sign())
      const now = yield* Clock.currentTimeMillis
      yield* expectSubmitAt(now + 300_000, ++count)
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 2),
        "the renewed files",
      )
      assert.notStrictEqual(fileText(yield* volumeOf(id), "tls.crt"), certificate)
      assert.strictEqual((yield* fake.live(id)).length, 1)
    }).pipe(Effect.provide(layer), fixedRandom(0.5)),
  )

  it.effect("a denial, then success 30 s later, and the schedule goes on", () =>
    Effect.gen(function* () {
      const id = yield* failAtRenewal(IssuerBehaviour.deny("policy", "not now"))
      const fake = yield* FakeCertificateRequests
      yield* fake.setBehaviour("flaky", IssuerBehaviour.sign())
      const now = yield* Clock.currentTimeMillis
      yield* expectSubmitAt(now + 30_000, 3)
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 2),
        "the renewed files",
      )
      yield* settle
      const next = yield* nextIssuanceAt(id)
      assert.isAbove(next, now + 30_000 + hour)
      yield* expectSubmitAt(next, 4)
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 3),
        "the next renewal",
      )
    }).pipe(Effect.provide(layer), fixedRandom(0.5)),
  )

  it.effect("an unusable answer to a renewal: RenewalFailed, files kept, request and pending key gone", () =>
    Effect.gen(function* () {
      const id = yield* failAtRenewal(IssuerBehaviour.badAnswer("expired"))
      const volume = yield* volumeOf(id)
      assert.strictEqual(volume.generation, 1, "the working files stay")
      assert.strictEqual(volume.secrets.size, 0, "no pending key is left")
      assert.strictEqual(Option.getOrThrow(volume.metadata).pendingRequest, undefined)
      const fake = yield* FakeCertificateRequests
      const [issued, refused] = yield* fake.submitted
      assert.deepStrictEqual(yield* fake.live(id), [{ namespace: issued!.namespace, name: issued!.name }])
      const events = yield* RecordingPodEvents.use((r) => r.events)
      const failed = events.filter((e) => e.reason === "RenewalFailed")
      assert.lengthOf(failed, 1)
      assert.include(failed[0]?.message, `${refused?.namespace}/${refused?.name}`)
      assert.include(failed[0]?.message, "(Expired)")
      assert.notInclude(
        events.map((e) => e.reason),
        "IssuanceFailed",
      )
    }).pipe(Effect.provide(layer), fixedRandom(0.5)),
  )

  // Each failed attempt deletes its request, so a failing renewal cannot pile requests up.
  it.effect("failed attempts do not pile up: at most the issued request and the current one live", () =>
    Effect.gen(function* () {
      const id = yield* failAtRenewal(IssuerBehaviour.fail("issuer down"))
      let count = 2
      for (const delay of [30, 60, 120]) {
        const now = yield* Clock.currentTimeMillis
        yield* expectSubmitAt(now + delay * 1000, ++count)
        yield* awaitDecided(id)
      }
      const fake = yield* FakeCertificateRequests
      assert.isAtMost((yield* fake.live(id)).length, 2)
    }).pipe(Effect.provide(layer), fixedRandom(0.5)),
  )
})

describe("after unpublish", () => {
  it.effect("no fiber or timer is left: a year later nothing was submitted", () =>
    Effect.gen(function* () {
      const lifecycle = yield* Lifecycle
      const fake = yield* FakeCertificateRequests
      const idle = newVolumeId()
      yield* publish(publishRequest(idle))
      // A second volume is unpublished in the middle of its backoff.
      const retrying = newVolumeId()
      yield* publish(publishRequest(retrying, { with: { ...threeHours, [K.IssuerNameKey]: "flaky" } }))
      yield* fake.setBehaviour("flaky", IssuerBehaviour.fail())
      yield* settle
      yield* expectSubmitAt(yield* nextIssuanceAt(retrying), 3)
      yield* awaitDecided(retrying)
      assert.strictEqual(yield* lifecycle.size, 2)

      yield* unpublish(unpublishRequest(idle))
      yield* unpublish(unpublishRequest(retrying))
      assert.strictEqual(yield* lifecycle.size, 0)
      const submitted = yield* submittedCount
      yield* TestClock.adjust(Duration.days(365))
      yield* settle
      assert.strictEqual(yield* submittedCount, submitted)
      assert.deepStrictEqual(yield* fake.live(idle), [])
      assert.deepStrictEqual(yield* fake.live(retrying), [])
    }).pipe(Effect.provide(testLayer({ issuers: { flaky: IssuerBehaviour.sign() } })), fixedRandom(0.5)),
  )
})

describe("the node's renewal schedule", () => {
  /** Renewal requests of the volume so far (the first issuance's included). */
  const requestsOf = (volumeId: string) =>
    Effect.map(
      FakeCertificateRequests.use((fake) => fake.submitted),
      (all) => all.filter((request) => request.volumeId === volumeId),
    )

  it.effect(
    "many volumes renew each at its own time; an unpublished one never; a failing one backs off alone",
    () =>
      Effect.gen(function* () {
        const lifecycle = yield* Lifecycle
        const fake = yield* FakeCertificateRequests
        // Lifetimes of 3h, 4h, ... 22h: each renews at 2/3 of its own, brought forward by half the jitter bound.
        const ids = Array.from({ length: 20 }, () => newVolumeId())
        for (const [i, id] of ids.entries()) {
          const issuer = i === 5 ? "flaky" : "ca-issuer"
          yield* publish(
            publishRequest(id, { with: { [K.DurationKey]: `${3 + i}h`, [K.IssuerNameKey]: issuer } }),
          )
        }
        yield* settle
        const due = new Map<string, number>()
        for (const id of ids) due.set(id, yield* nextIssuanceAt(id))
        const [gone, failing] = [ids[9] as string, ids[5] as string]
        yield* unpublish(unpublishRequest(gone))
        yield* fake.setBehaviour("flaky", IssuerBehaviour.fail())
        assert.strictEqual(yield* lifecycle.size, 19)

        // Walk the clock to each renewal time in turn: that volume's renewal, and no one else's, is requested.
        const order = [...due].filter(([id]) => id !== gone).sort((a, b) => a[1] - b[1])
        for (const [id, at] of order) {
          const now = yield* Clock.currentTimeMillis
          yield* TestClock.adjust(at - now - 1)
          yield* settle
          assert.strictEqual((yield* requestsOf(id)).length, 1, `${id} not renewed before its time`)
          yield* TestClock.adjust(1)
          yield* eventually(
            Effect.map(requestsOf(id), (requests) => requests.length >= 2),
            `${id} renewed at its time`,
          )
          if (id !== failing) {
            yield* eventually(
              Effect.map(volumeOf(id), (v) => v.generation === 2),
              `${id}'s renewed files`,
            )
          }
          yield* settle
        }
        assert.strictEqual((yield* requestsOf(gone)).length, 1)
        for (const id of ids) {
          if (id === gone || id === failing) continue
          // Renewed once, and the next renewal is scheduled from the new certificate.
          assert.isAbove(yield* nextIssuanceAt(id), due.get(id) ?? 0)
        }
        // The failing volume kept retrying on its backoff meanwhile; the others were not held up by it.
        assert.isAbove((yield* requestsOf(failing)).length, 5)
        assert.strictEqual(yield* lifecycle.size, 19)
        const summary = yield* lifecycle.summary
        assert.strictEqual(summary.volumes, 19)
      }).pipe(Effect.provide(testLayer({ issuers: { flaky: IssuerBehaviour.sign() } })), fixedRandom(0.5)),
  )

  it.effect("a pending first issuance: the pod hears after 10 s, then every minute, until it is issued", () =>
    Effect.gen(function* () {
      const fake = yield* FakeCertificateRequests
      const id = newVolumeId()
      const notices = Effect.map(
        RecordingPodEvents.use((recording) => recording.events),
        (events) => events.filter((event) => event.reason === "IssuancePending"),
      )
      const publishing = yield* Effect.forkChild(
        publish(publishRequest(id, { with: { [K.IssuerNameKey]: "held" } })).pipe(Effect.exit),
      )
      yield* eventually(
        Effect.map(requestsOf(id), (requests) => requests.length === 1),
        "the request",
      )
      yield* settle
      yield* TestClock.adjust(Duration.millis(9_999))
      yield* settle
      assert.strictEqual((yield* notices).length, 0)
      yield* TestClock.adjust(1)
      yield* eventually(
        Effect.map(notices, (events) => events.length === 1),
        "the first notice",
      )
      const [first] = yield* notices
      assert.include(first?.message ?? "", "waiting for issuer held to sign CertificateRequest")
      yield* TestClock.adjust(Duration.minutes(1))
      yield* eventually(
        Effect.map(notices, (events) => events.length === 2),
        "the second notice",
      )
      yield* fake.setBehaviour("held", IssuerBehaviour.sign())
      const exit = yield* Fiber.join(publishing)
      assert.isTrue(exit._tag === "Success", "the publish waiting on it succeeds")
      yield* settle
      yield* TestClock.adjust(Duration.minutes(10))
      yield* settle
      assert.strictEqual((yield* notices).length, 2)
    }).pipe(Effect.provide(testLayer({ issuers: { held: IssuerBehaviour.pending() } })), fixedRandom(0.5)),
  )
})

/**
 * The FakeCertificateRequests the volume tests stand on: it answers like the live
 * service (outcomes from the same conditions, Deleted while waiting, 409 as success),
 * scripts issuers by name at any time, runs delays on TestClock, and shows tests what
 * was submitted without ever holding a token's value.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as K from "../../src/attributes/keys.js"
import { parseAttributes } from "../../src/attributes/parse.js"
import { CertificateRequests } from "../../src/kube/certificate-requests.js"
import { checkIssued } from "../../src/pki/certificate.js"
import { buildCsr } from "../../src/pki/csr.js"
import { KeyGenerator } from "../../src/pki/keys.js"
import { FakeCertificateRequests } from "../../src/testing/fake-certificate-requests.js"
import { FakeKeyGenerator } from "../../src/testing/fake-keys.js"
import { IssuerBehaviour } from "../../src/testing/issuer/behaviour.js"
import { attributesWith, pod, settle } from "./programs-support.js"

/** Submits a request for `volumeId` to `issuer`; returns its name and key. */
const submitTo = (issuer: string, volumeId = "vol-1", token?: string) =>
  Effect.gen(function* () {
    const spec = yield* parseAttributes(attributesWith({ [K.IssuerNameKey]: issuer }), pod)
    const key = yield* (yield* KeyGenerator).generate(spec.key)
    const csrPem = yield* buildCsr(spec, key)
    const requests = yield* CertificateRequests
    const name = yield* requests.newName
    const request = yield* requests.submit({
      name,
      volumeId,
      pod,
      spec,
      csrPem,
      token: token === undefined ? undefined : Redacted.make(token),
    })
    return { request, key, spec, csrPem }
  })

const layer = FakeCertificateRequests.layerWith({
  behaviours: { slow: IssuerBehaviour.signAfter("1 minute"), flaky: IssuerBehaviour.fail("down") },
})
const provide = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.provide(layer), Effect.provide(FakeKeyGenerator.layer))

describe("FakeCertificateRequests", () => {
  it.effect("signs with its CA: the answer passes the driver's own checks", () =>
    provide(
      Effect.gen(function* () {
        const { request, key } = yield* submitTo("ca-issuer")
        const requests = yield* CertificateRequests
        const answer = yield* requests.awaitIssued(request, "ca-issuer")
        const issued = yield* checkIssued(answer.certificatePem, answer.caPem, key)
        const fake = yield* FakeCertificateRequests
        assert.strictEqual(answer.caPem.trim(), (yield* fake.ca).certificatePem.trim())
        assert.strictEqual(issued.notAfter.getTime() - issued.notBefore.getTime(), 720 * 3_600_000)
        assert.deepStrictEqual(yield* fake.stateOf(request), Option.some("Issued"))
      }),
    ),
  )

  it.effect("denies, fails and answers malformed as scripted, with the reasons in the errors", () =>
    provide(
      Effect.gen(function* () {
        const requests = yield* CertificateRequests
        const denied = yield* submitTo("deny-issuer")
        const deniedError = yield* Effect.flip(requests.awaitIssued(denied.request, "deny-issuer"))
        assert.strictEqual(deniedError._tag, "RequestDenied")
        const failed = yield* submitTo("flaky")
        const failedError = yield* Effect.flip(requests.awaitIssued(failed.request, "flaky"))
        assert.strictEqual(failedError._tag, "RequestFailed")
        assert.strictEqual(failedError.detail, "down")
        const malformed = yield* submitTo("malformed-issuer")
        const answer = yield* requests.awaitIssued(malformed.request, "malformed-issuer")
        const invalid = yield* Effect.flip(checkIssued(answer.certificatePem, answer.caPem, malformed.key))
        assert.strictEqual(invalid._tag, "CertificateInvalid")
      }),
    ),
  )

  it.effect("a delayed signing runs on the test clock", () =>
    provide(
      Effect.gen(function* () {
        const { request } = yield* submitTo("slow")
        const requests = yield* CertificateRequests
        const waiting = yield* Effect.forkChild(requests.awaitIssued(request, "slow"))
        yield* settle
        assert.include(yield* requests.describe(request), "Ready=False (Pending")
        yield* TestClock.adjust("59 seconds")
        yield* settle
        assert.isUndefined(waiting.pollUnsafe())
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(waiting)
      }),
    ),
  )

  it.effect("a behaviour set later answers the requests still pending", () =>
    provide(
      Effect.gen(function* () {
        const { request } = yield* submitTo("unknown-issuer")
        const requests = yield* CertificateRequests
        const fake = yield* FakeCertificateRequests
        const waiting = yield* Effect.forkChild(requests.awaitIssued(request, "unknown-issuer"))
        yield* settle
        assert.deepStrictEqual(yield* fake.stateOf(request), Option.some("Pending"))
        yield* fake.setBehaviour("unknown-issuer", IssuerBehaviour.sign())
        yield* Fiber.join(waiting)
      }),
    ),
  )

  it.effect("a request removed while waited on fails with RequestFailed reason Deleted", () =>
    provide(
      Effect.gen(function* () {
        const { request } = yield* submitTo("unknown-issuer")
        const requests = yield* CertificateRequests
        const waiting = yield* Effect.forkChild(Effect.flip(requests.awaitIssued(request, "unknown-issuer")))
        yield* settle
        yield* requests.remove(request)
        const error = yield* Fiber.join(waiting)
        assert.strictEqual(error._tag, "RequestFailed")
        assert.strictEqual(error.reason, "Deleted")
        assert.isFalse(yield* requests.exists(request))
        const fake = yield* FakeCertificateRequests
        assert.deepStrictEqual(yield* fake.removed, [request])
      }),
    ),
  )

  it.effect(
    "records submits (token only as present), removals by volume, write calls and injected failures",
    () =>
      provide(
        Effect.gen(function* () {
          const fake = yield* FakeCertificateRequests
          const requests = yield* CertificateRequests
          const a = yield* submitTo("unknown-issuer", "vol-a", "secret-token-value")
          const b = yield* submitTo("unknown-issuer", "vol-a")
          const c = yield* submitTo("unknown-issuer", "vol-b")
          const submitted = yield* fake.submitted
          assert.deepStrictEqual(
            submitted.map((r) => [r.name, r.volumeId, r.issuer, r.hasToken]),
            [
              [a.request.name, "vol-a", "unknown-issuer", true],
              [b.request.name, "vol-a", "unknown-issuer", false],
              [c.request.name, "vol-b", "unknown-issuer", false],
            ],
          )
          assert.notInclude(JSON.stringify(submitted), "secret-token-value")
          assert.deepStrictEqual(yield* fake.live("vol-a"), [a.request, b.request])

          // A second create of the same name is the live service's 409: no new request.
          yield* requests.submit({
            name: a.request.name,
            volumeId: "vol-a",
            pod,
            spec: a.spec,
            csrPem: a.csrPem,
            token: undefined,
          })
          assert.strictEqual((yield* fake.submitted).length, 3)

          yield* requests.removeForVolume("vol-a", b.request.name)
          assert.deepStrictEqual(yield* fake.live("vol-a"), [b.request])
          assert.deepStrictEqual(yield* fake.live("vol-b"), [c.request])
          assert.strictEqual(yield* fake.writes, 5)

          yield* fake.failNextSubmit(403)
          const error = yield* Effect.flip(submitTo("ca-issuer", "vol-c"))
          assert.strictEqual(error._tag, "KubeApiForbidden")
          if (error._tag === "KubeApiForbidden") assert.strictEqual(error.status, 403)
          assert.deepStrictEqual(yield* fake.live("vol-c"), [])
          yield* submitTo("ca-issuer", "vol-c")
          assert.strictEqual((yield* fake.live("vol-c")).length, 1)
        }),
      ),
  )
})

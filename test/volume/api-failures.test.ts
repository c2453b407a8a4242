/**
 * The publish program when the API server refuses the request: the error keeps its
 * meaning up to the gRPC code, the pod gets an IssuanceFailed event saying why, and
 * nothing is left behind; an unavailable API is still retryable.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import { toStatus } from "../../src/csi/status.js"
import { FakeCertificateRequests } from "../../src/testing/fake-certificate-requests.js"
import { MemoryVolumeStore } from "../../src/testing/memory-store.js"
import { RecordingPodEvents } from "../../src/testing/recording-events.js"
import { publish } from "../../src/volume/publish.js"
import { newVolumeId, publishRequest, testLayer } from "./programs-support.js"

describe("publish when the API refuses the request", () => {
  for (const [status, tag, code] of [
    [406, "KubeApiRejected", "INVALID_ARGUMENT"],
    [422, "KubeApiRejected", "INVALID_ARGUMENT"],
    [401, "KubeApiUnauthenticated", "UNAUTHENTICATED"],
    [403, "KubeApiForbidden", "PERMISSION_DENIED"],
    [429, "KubeApiError", "UNAVAILABLE"],
    [503, "KubeApiError", "UNAVAILABLE"],
  ] as const) {
    it.effect(`HTTP ${status} on create: ${tag}, ${code}, an IssuanceFailed event, nothing left`, () =>
      Effect.gen(function* () {
        const fake = yield* FakeCertificateRequests
        yield* fake.failNextSubmit(status)
        const id = newVolumeId()
        const exit = yield* Effect.exit(publish(publishRequest(id)))
        if (Exit.isSuccess(exit)) return assert.fail("the publish succeeded")
        const answer = toStatus(exit)
        const error = Cause.findErrorOption(exit.cause)
        assert.strictEqual(Option.isSome(error) ? error.value._tag : "none", tag)
        assert.strictEqual(answer.name, code)
        assert.match(
          answer.details,
          new RegExp(`^Kubernetes API create CertificateRequest team-a/\\S+: HTTP ${status}`),
        )
        const events = yield* RecordingPodEvents.use((r) => r.events)
        assert.deepStrictEqual(
          events.map((e) => e.reason),
          ["IssuanceFailed"],
        )
        assert.include(events[0]?.message, `HTTP ${status}`)
        assert.deepStrictEqual(yield* MemoryVolumeStore.use((s) => s.volumeIds), [])
        assert.deepStrictEqual(yield* fake.live(id), [])
      }).pipe(Effect.provide(testLayer())),
    )
  }
})

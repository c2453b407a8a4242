// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${POD_IP} in attribute values is the syntax under test
/**
 * Readiness gates and the implicit `pod-ip:any` of `${POD_IP}` volumes, through publish
 * and the real Lifecycle over FakePods on TestClock: the mount is immediate, nothing is
 * requested until every gate passes, a pod change starts the issuance without the clock
 * moving, the backoff paces looks when no change comes, renewals are gated too and use
 * the pod's addresses of that moment, and the pod hears of it in a bounded number of events.
 */
import { X509Certificate } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Layer, Option, Queue } from "effect"
import { TestClock } from "effect/testing"
import * as K from "../../src/attributes/keys.js"
import type { DriverConfig } from "../../src/config.js"
import type { ReadinessGate } from "../../src/gates/gates.js"
import type { Pod } from "../../src/kube/pod.js"
import { type PodChange, Pods } from "../../src/kube/pods.js"
import { FakeCertificateRequests } from "../../src/testing/fake-certificate-requests.js"
import { FakePods } from "../../src/testing/fake-pods.js"
import { MemoryVolumeStore } from "../../src/testing/memory-store.js"
import { RecordingPodEvents } from "../../src/testing/recording-events.js"
import { RecordingMounter } from "../../src/testing/recording-mounter.js"
import { publish } from "../../src/volume/publish.js"
import {
  eventually,
  fileText,
  fixedRandom,
  newVolumeId,
  pod,
  publishRequest,
  settle,
  submittedCount,
  targetPathOf,
  testLayer,
  volumeOf,
} from "./programs-support.js"

const netReady: ReadinessGate = { _tag: "PodCondition", type: "example.com/net", status: "True" }
const anyIp: ReadinessGate = { _tag: "PodIp", family: "any" }

const gated = (config: Partial<DriverConfig> = {}) =>
  testLayer({ config: { continueOnNotReady: true, ...config } })

const putPod = (
  fields: { ips?: ReadonlyArray<string>; conditions?: ReadonlyArray<{ type: string; status: string }> } = {},
) => FakePods.use((pods) => pods.put({ namespace: pod.namespace, name: pod.name, uid: pod.uid, ...fields }))

const updatePod = (change: Parameters<FakePods["Service"]["update"]>[2]) =>
  FakePods.use((pods) => pods.update(pod.namespace, pod.name, change))

const gateEvents = RecordingPodEvents.use((recording) => recording.events).pipe(
  Effect.map((events) => events.filter((e) => e.reason === "WaitingForReadinessGates")),
)

const ipsOfCertificate = (volumeId: string) =>
  Effect.map(volumeOf(volumeId), (v) => {
    const pem = fileText(v, "tls.crt")
    if (pem === undefined) return []
    return (new X509Certificate(pem).subjectAltName ?? "")
      .split(", ")
      .filter((entry) => entry.startsWith("IP Address:"))
      .map((entry) => entry.slice("IP Address:".length))
  })

describe("readiness gates", () => {
  it.effect(
    "mount at once; no request until every gate passes; a pod change starts issuance without the clock moving",
    () =>
      Effect.gen(function* () {
        yield* putPod()
        const id = newVolumeId()
        yield* publish(publishRequest(id))
        const mounter = yield* RecordingMounter
        assert.isTrue((yield* mounter.mounts).has(targetPathOf(id)), "mounted at once")
        yield* settle
        // A minute of backoff steps, and still nothing.
        for (let i = 0; i < 12; i++) {
          yield* TestClock.adjust("5 seconds")
          yield* settle
        }
        assert.strictEqual(yield* submittedCount, 0)
        const first = yield* gateEvents
        assert.strictEqual(first.length, 1, "one event for the wait, not one per look")
        assert.include(first[0]?.message ?? "", "pod-ip:any (the pod has no IP address yet)")
        assert.include(
          first[0]?.message ?? "",
          "pod-condition:example.com/net=True (condition example.com/net is not set yet)",
        )

        // One gate opens: still waiting, and the pod hears that only the other one is left.
        yield* updatePod({ ips: ["10.0.0.7"] })
        yield* settle
        assert.strictEqual(yield* submittedCount, 0)
        const second = yield* gateEvents
        assert.strictEqual(second.length, 2)
        assert.notInclude(second[1]?.message ?? "", "pod-ip")

        yield* updatePod({ conditions: [{ type: "example.com/net", status: "True" }] })
        yield* eventually(
          Effect.map(submittedCount, (n) => n === 1),
          "the request, woken by the pod watch",
        )
        yield* eventually(
          Effect.map(volumeOf(id), (v) => v.generation === 1),
          "the certificate",
        )
        assert.strictEqual((yield* gateEvents).length, 2)
      }).pipe(Effect.provide(gated({ readinessGates: [anyIp, netReady] })), fixedRandom(0.5)),
  )

  it.effect("gates hold renewals too", () =>
    Effect.gen(function* () {
      yield* putPod({ conditions: [{ type: "example.com/net", status: "True" }] })
      const id = newVolumeId()
      yield* publish(publishRequest(id, { with: { [K.DurationKey]: "3h" } }))
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 1),
        "the first certificate",
      )
      yield* settle
      yield* updatePod({ conditions: [{ type: "example.com/net", status: "False" }] })
      const metadata = Option.getOrThrow((yield* volumeOf(id)).metadata)
      const due = Date.parse(metadata.issuance?.nextIssuanceAt ?? "")
      yield* TestClock.adjust(due - (yield* Clock.currentTimeMillis) + 60_000)
      yield* settle
      assert.strictEqual(yield* submittedCount, 1, "no renewal request while a gate is shut")
      assert.include((yield* gateEvents).at(-1)?.message ?? "", 'condition example.com/net is "False"')
      yield* updatePod({ conditions: [{ type: "example.com/net", status: "True" }] })
      yield* eventually(
        Effect.map(submittedCount, (n) => n === 2),
        "the renewal",
      )
    }).pipe(Effect.provide(gated({ readinessGates: [netReady] })), fixedRandom(0.5)),
  )

  it.effect("a pod the watch has not shown yet is said only once it lasts past the first backoff step", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      yield* settle
      assert.deepStrictEqual(yield* gateEvents, [], "usually its ADDED event is on the way")
      yield* TestClock.adjust("2 seconds")
      yield* settle
      const events = yield* gateEvents
      assert.strictEqual(events.length, 1)
      assert.include(events[0]?.message ?? "", "the pod is not (yet) among this node's pods")
      yield* putPod({ ips: ["10.0.0.7"] })
      yield* eventually(
        Effect.map(submittedCount, (n) => n === 1),
        "the request once the pod shows up",
      )
    }).pipe(Effect.provide(gated({ readinessGates: [anyIp] })), fixedRandom(0.5)),
  )

  it.effect("a pod of another UID under the name does not open the gates", () =>
    Effect.gen(function* () {
      const pods = yield* FakePods
      yield* pods.put({ namespace: pod.namespace, name: pod.name, uid: "someone-else", ips: ["10.0.0.9"] })
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      yield* settle
      yield* TestClock.adjust("30 seconds")
      yield* settle
      assert.strictEqual(yield* submittedCount, 0)
      assert.include((yield* gateEvents)[0]?.message ?? "", "is now another pod (uid someone-else)")
    }).pipe(Effect.provide(gated({ readinessGates: [anyIp] }))),
  )
})

/**
 * A Pods whose pod changes without a watch event: the case the backoff is there for.
 * The annotation appears at `at` (ms on the TestClock).
 */
const silentPods = (at: number) =>
  Layer.effect(
    Pods,
    Effect.gen(function* () {
      const quiet = yield* Queue.unbounded<PodChange>()
      const current = Effect.gen(function* () {
        const open = (yield* Clock.currentTimeMillis) >= at
        const view: Pod = {
          metadata: { namespace: pod.namespace, name: pod.name, uid: pod.uid },
          ips: [],
          conditions: [],
          annotations: open ? { "example.com/ready": "yes" } : {},
          deleting: false,
        }
        return view
      })
      return Pods.of({
        get: () => Effect.asSome(current),
        presence: () => Effect.map(current, (p) => ({ _tag: "Present", pod: p }) as const),
        changesOf: () => Effect.succeed(quiet),
        changes: Effect.succeed(quiet),
        all: Effect.map(current, (p) => [p]),
        firstSync: Effect.void,
        synced: Effect.succeed(true),
      })
    }),
  )

describe("gate backoff", () => {
  const annotated: ReadinessGate = { _tag: "PodAnnotation", key: "example.com/ready" }
  // Random 0.5 and jitter 0.5: each wait is 1.25 × the step: 1.25, 2.5, 5, 10, 12.5 (capped), …
  const looks = [1250, 3750, 8750, 18_750, 31_250, 43_750, 56_250, 68_750]

  for (const [opensAt, requestedAt] of [
    [1, 1250],
    [3000, 3750],
    [60_000, 68_750],
  ] as const) {
    it.effect(
      `without a pod change, looks again after each backoff step (opens at ${opensAt} ms, seen at ${requestedAt})`,
      () =>
        Effect.gen(function* () {
          assert.include(looks, requestedAt)
          const start = yield* Clock.currentTimeMillis
          const id = newVolumeId()
          yield* publish(publishRequest(id))
          yield* settle
          yield* TestClock.adjust(requestedAt - 1)
          yield* settle
          assert.strictEqual(yield* submittedCount, 0, `nothing before ${requestedAt} ms`)
          yield* TestClock.adjust(1)
          yield* eventually(
            Effect.map(submittedCount, (n) => n === 1),
            `the request at ${requestedAt} ms`,
          )
          assert.strictEqual((yield* Clock.currentTimeMillis) - start, requestedAt)
        }).pipe(
          Effect.provide(
            testLayer({
              config: { continueOnNotReady: true, readinessGates: [annotated] },
              pods: Layer.unwrap(Effect.map(Clock.currentTimeMillis, (now) => silentPods(now + opensAt))),
            }),
          ),
          fixedRandom(0.5),
        ),
    )
  }
})

describe("${POD_IP} and ${POD_IPS}", () => {
  const dualStack = { [K.IpSansKey]: "${POD_IPS}", [K.DurationKey]: "3h" }

  it.effect("a volume mounts at once, waits for the pod's IPs, and its certificate carries them", () =>
    Effect.gen(function* () {
      yield* putPod()
      const id = newVolumeId()
      yield* publish(publishRequest(id, { with: dualStack }))
      yield* settle
      yield* TestClock.adjust("20 seconds")
      yield* settle
      assert.strictEqual(yield* submittedCount, 0)
      assert.include((yield* gateEvents)[0]?.message ?? "", "pod-ip:any (the pod has no IP address yet)")
      yield* updatePod({ ips: ["10.0.0.7", "fd00::7"] })
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 1),
        "the certificate",
      )
      assert.deepStrictEqual(yield* ipsOfCertificate(id), ["10.0.0.7", "FD00:0:0:0:0:0:0:7"])
    }).pipe(Effect.provide(gated())),
  )

  it.effect("renewals use the pod's addresses of that moment", () =>
    Effect.gen(function* () {
      yield* putPod({ ips: ["10.0.0.7"] })
      const id = newVolumeId()
      yield* publish(publishRequest(id, { with: dualStack }))
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 1),
        "the first certificate",
      )
      assert.deepStrictEqual(yield* ipsOfCertificate(id), ["10.0.0.7"])
      yield* updatePod({ ips: ["10.0.0.8", "fd00::8"] })
      yield* settle
      const metadata = Option.getOrThrow((yield* volumeOf(id)).metadata)
      const due = Date.parse(metadata.issuance?.nextIssuanceAt ?? "")
      yield* TestClock.adjust(due - (yield* Clock.currentTimeMillis))
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 2),
        "the renewal",
      )
      assert.deepStrictEqual(yield* ipsOfCertificate(id), ["10.0.0.8", "FD00:0:0:0:0:0:0:8"])
      assert.deepStrictEqual(Option.getOrThrow((yield* volumeOf(id)).metadata).pod.ips, [
        "10.0.0.8",
        "fd00::8",
      ])
    }).pipe(Effect.provide(gated()), fixedRandom(0.5)),
  )

  it.effect("without --continue-on-not-ready, publish says so and creates nothing", () =>
    Effect.gen(function* () {
      yield* putPod({ ips: ["10.0.0.7"] })
      const id = newVolumeId()
      const error = yield* Effect.flip(publish(publishRequest(id, { with: { [K.IpSansKey]: "${POD_IP}" } })))
      assert.strictEqual(error._tag, "InvalidAttributes")
      assert.include(error.message, "csi.cert-manager.io/ip-sans: uses ${POD_IP} or ${POD_IPS}")
      assert.include(error.message, "--continue-on-not-ready")
      const store = yield* MemoryVolumeStore
      assert.deepStrictEqual(yield* store.volumeIds, [])
      assert.deepStrictEqual(yield* (yield* RecordingMounter).calls, [])
      assert.strictEqual(yield* submittedCount, 0)
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("volumes without gates or pod IPs never wait for the pod watch", () =>
    Effect.gen(function* () {
      // No pod at all on the fake watch: a plain volume issues as before.
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      assert.strictEqual((yield* volumeOf(id)).generation, 1)
      const fake = yield* FakeCertificateRequests
      assert.strictEqual((yield* fake.submitted).length, 1)
    }).pipe(Effect.provide(testLayer())),
  )
})

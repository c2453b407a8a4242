/**
 * The live Pods service against the sandbox's API server: one list+watch with
 * `spec.nodeName=<node-id>`, a cache that answers without API calls, changes per pod
 * and for the whole node, presence judged by UID, and readiness registered with Health.
 */
import { assert, describe, it } from "@effect/vitest"
import { KubeConfig } from "@kubernetes/client-node"
import { Effect, Layer, Option, Queue } from "effect"
import { Config } from "../../src/config.js"
import type { ReadinessGate } from "../../src/gates/gates.js"
import { KubeClient } from "../../src/kube/client.js"
import { goneBy, Pods } from "../../src/kube/pods.js"
import { Health } from "../../src/observability/health.js"
import { makeSandbox, type Sandbox } from "../../src/testing/sandbox.js"
import { testConfig } from "../volume/programs-support.js"

const node = "node-a"

/** The gates the driver judges name the conditions and annotations its pod cache keeps. */
const gates: ReadonlyArray<ReadinessGate> = [
  { _tag: "PodCondition", type: "Ready", status: "True" },
  { _tag: "PodAnnotation", key: "a" },
]

const podsOn = (sandbox: Sandbox) => {
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromString(sandbox.kubeconfig(sandbox.driverToken))
  return Pods.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(KubeClient.fromKubeConfig(kubeConfig), Health.layer)),
    Layer.provide(Config.layer(testConfig({ nodeId: node, readinessGates: gates }))),
  )
}

/** Runs `body` with a sandbox and the live Pods over it, started after `before`. */
const withPods = <A, E>(
  body: (sandbox: Sandbox) => Effect.Effect<A, E, Pods | Health>,
  before: (sandbox: Sandbox) => Effect.Effect<unknown, unknown> = () => Effect.void,
) =>
  Effect.gen(function* () {
    const sandbox = yield* makeSandbox()
    yield* before(sandbox)
    return yield* body(sandbox).pipe(Effect.provide(podsOn(sandbox)))
  }).pipe(Effect.scoped)

describe("Pods (live, over the sandbox)", () => {
  it.live("lists and watches this node's pods only, and answers from its cache", () =>
    withPods((sandbox) =>
      Effect.gen(function* () {
        const pods = yield* Pods
        const mine = yield* sandbox.registerPod({ namespace: "ns", name: "mine", nodeName: node })
        yield* sandbox.registerPod({ namespace: "ns", name: "theirs", nodeName: "node-b" })
        yield* pods.firstSync
        const changes = yield* pods.changesOf("ns", "mine")
        yield* sandbox.updatePod("ns", "mine", { ips: ["10.0.0.7", "fd00::7"] })
        const change = yield* Queue.take(changes)
        assert.strictEqual(change._tag, "Upsert")
        assert.deepStrictEqual(change.object.ips, ["10.0.0.7", "fd00::7"])
        assert.deepStrictEqual(
          (yield* pods.all).map((p) => p.metadata.name),
          ["mine"],
        )
        yield* sandbox.resetStats()
        const ref = { namespace: "ns", name: "mine", uid: String(mine.metadata.uid) }
        assert.strictEqual((yield* pods.presence(ref))._tag, "Present")
        assert.strictEqual((yield* pods.presence({ ...ref, uid: "older" }))._tag, "Replaced")
        assert.strictEqual((yield* pods.presence({ ...ref, name: "nobody" }))._tag, "Absent")
        assert.isTrue(Option.isNone(yield* pods.get("ns", "theirs")))
        assert.strictEqual((yield* sandbox.stats()).requestsTotal, 0, "reads are cache lookups")
        yield* (yield* Health).ready
      }).pipe(Effect.scoped),
    ),
  )

  it.live(
    "the first list decodes client-node's typed pods: IPs, and the conditions and annotations the gates name",
    () =>
      withPods(
        (sandbox) =>
          Effect.gen(function* () {
            const pods = yield* Pods
            yield* pods.firstSync
            const listed = Option.getOrThrow(yield* pods.get("ns", "early"))
            assert.deepStrictEqual(listed.ips, ["fd00::9"])
            // Only what a gate reads is kept: not the other condition, not the large annotation.
            assert.deepStrictEqual(listed.conditions, [{ type: "Ready", status: "True" }])
            assert.deepStrictEqual(listed.annotations, { a: "1" })
            assert.isFalse(listed.deleting)
            const changes = yield* pods.changesOf("ns", "early")
            yield* sandbox.updatePod("ns", "early", {
              annotations: { a: "2", "kubectl.kubernetes.io/last-applied-configuration": "x".repeat(4096) },
            })
            const change = yield* Queue.take(changes)
            assert.deepStrictEqual(change.object.annotations, { a: "2" })
            assert.deepStrictEqual(Option.getOrThrow(yield* pods.get("ns", "early")).annotations, { a: "2" })
          }).pipe(Effect.scoped),
        (sandbox) =>
          Effect.gen(function* () {
            yield* sandbox.registerPod({ namespace: "ns", name: "early", nodeName: node })
            yield* sandbox.updatePod("ns", "early", {
              ips: ["fd00::9"],
              conditions: [
                { type: "Ready", status: "True" },
                { type: "PodScheduled", status: "True" },
              ],
              annotations: { a: "1", "kubectl.kubernetes.io/last-applied-configuration": "x".repeat(4096) },
            })
          }),
      ),
  )

  it.live("a deleted pod, or another UID under its name, is gone for the volume's pod", () =>
    withPods((sandbox) =>
      Effect.gen(function* () {
        const pods = yield* Pods
        const first = yield* sandbox.registerPod({ namespace: "ns", name: "web-0", nodeName: node })
        yield* pods.firstSync
        const ref = { namespace: "ns", name: "web-0", uid: String(first.metadata.uid) }
        const node_ = yield* pods.changes
        yield* sandbox.updatePod("ns", "web-0", { annotations: { a: "1" } })
        assert.isFalse(goneBy(ref, yield* Queue.take(node_)), "a change of the pod itself")
        yield* sandbox.deletePod("ns", "web-0")
        const deleted = yield* Queue.take(node_)
        assert.strictEqual(deleted._tag, "Delete")
        assert.isTrue(goneBy(ref, deleted))
        yield* sandbox.registerPod({ namespace: "ns", name: "web-0", nodeName: node })
        const replacement = yield* Queue.take(node_)
        assert.isTrue(goneBy(ref, replacement), "another UID under the name")
        assert.strictEqual((yield* pods.presence(ref))._tag, "Replaced")
      }).pipe(Effect.scoped),
    ),
  )
})

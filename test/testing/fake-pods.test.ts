/**
 * FakePods, the scriptable Pods for tests: each change is in the cache when the call
 * returns, waiters hear of it as from the live watch, and a new UID under a name is a
 * deletion of the old pod followed by the new one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Queue } from "effect"
import { goneBy, Pods } from "../../src/kube/pods.js"
import { FakePods } from "../../src/testing/fake-pods.js"

describe("FakePods", () => {
  it.effect("adds, changes, replaces and deletes pods, as the node's watch would show them", () =>
    Effect.gen(function* () {
      const fake = yield* FakePods
      const pods = yield* Pods
      yield* pods.firstSync
      const uid = yield* fake.put({ namespace: "ns", name: "web-0", ips: ["10.0.0.1"] })
      const ref = { namespace: "ns", name: "web-0", uid }
      const seen = yield* pods.changes
      assert.deepStrictEqual(Option.getOrThrow(yield* pods.get("ns", "web-0")).ips, ["10.0.0.1"])

      yield* fake.update("ns", "web-0", { conditions: [{ type: "Ready", status: "True" }], ips: [] })
      const changed = Option.getOrThrow(yield* pods.get("ns", "web-0"))
      assert.deepStrictEqual(changed.ips, [])
      assert.deepStrictEqual(changed.conditions, [{ type: "Ready", status: "True" }])
      assert.isFalse(goneBy(ref, yield* Queue.take(seen)))

      // Terminating: still there, marked deleting; not gone.
      yield* fake.update("ns", "web-0", { deleting: true })
      assert.isTrue(Option.getOrThrow(yield* pods.get("ns", "web-0")).deleting)
      assert.isFalse(goneBy(ref, yield* Queue.take(seen)))
      assert.strictEqual((yield* pods.presence(ref))._tag, "Present")

      yield* fake.put({ namespace: "ns", name: "web-0", uid: "second" })
      const [deleted, added] = [yield* Queue.take(seen), yield* Queue.take(seen)]
      assert.deepStrictEqual([deleted._tag, added._tag], ["Delete", "Upsert"])
      assert.isTrue(goneBy(ref, deleted) && goneBy(ref, added))
      assert.strictEqual((yield* pods.presence(ref))._tag, "Replaced")

      yield* fake.remove("ns", "web-0")
      assert.strictEqual((yield* pods.presence({ ...ref, uid: "second" }))._tag, "Absent")
      yield* fake.remove("ns", "web-0")
      yield* fake.update("ns", "nobody", { ips: ["10.0.0.2"] })
      assert.deepStrictEqual(yield* pods.all, [])
    }).pipe(Effect.scoped, Effect.provide(FakePods.layer)),
  )
})

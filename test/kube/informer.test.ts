import { assert, it } from "@effect/vitest"
import { Effect, Option, Queue, Ref, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { type ApplyEvent, type ListResult, makeInformer, type WatchEvent } from "../../src/kube/informer.js"
import { volumeIdHashLabel } from "../../src/kube/labels.js"

const cr = (name: string, resourceVersion: string, ready = false) => ({
  metadata: { name, namespace: "ns", resourceVersion },
  spec: { issuerRef: { name: "ca-issuer" } },
  status: ready ? { conditions: [{ type: "Ready", status: "True" }] } : {},
})

/** A scripted API: each list and each watch call takes the next answer, and is recorded. */
const scripted = (
  lists: Array<{ items: Array<unknown>; resourceVersion: string }>,
  watches: Array<Array<WatchEvent>>,
) =>
  Effect.gen(function* () {
    const calls = yield* Ref.make<Array<string>>([])
    const source = {
      list: Effect.suspend(() => {
        const next = lists.shift()
        return Ref.update(calls, (all) => [...all, "list"]).pipe(
          Effect.andThen(next === undefined ? Effect.never : Effect.succeed(next)),
        )
      }),
      watch: (resourceVersion: string) =>
        Stream.unwrap(
          Effect.gen(function* () {
            yield* Ref.update(calls, (all) => [...all, `watch@${resourceVersion}`])
            const events = watches.shift()
            return events === undefined ? Stream.never : Stream.fromIterable(events)
          }),
        ),
    }
    return { source, calls }
  })

it.effect(
  "lists, watches from the list's version, re-watches from the last seen version, re-lists on an ERROR",
  () =>
    Effect.gen(function* () {
      const { source, calls } = yield* scripted(
        [
          { items: [cr("a", "5")], resourceVersion: "5" },
          { items: [cr("a", "9", true)], resourceVersion: "9" },
        ],
        [
          [
            { type: "MODIFIED", object: cr("a", "7") },
            { type: "BOOKMARK", object: { metadata: { resourceVersion: "8" } } },
          ],
          [{ type: "ERROR", object: { kind: "Status", code: 410 } }],
        ],
      )
      const informer = yield* makeInformer(source)
      yield* informer.firstSync
      yield* TestClock.adjust("1 second")
      for (let i = 0; i < 10 && (yield* Ref.get(calls)).length < 5; i++) yield* Effect.yieldNow
      assert.deepStrictEqual(yield* Ref.get(calls), ["list", "watch@5", "watch@8", "list", "watch@9"])
      const a = yield* informer.get("ns", "a")
      assert.isTrue(Option.isSome(a))
      assert.strictEqual(Option.getOrThrow(a).metadata.resourceVersion, "9")
      assert.isTrue(yield* informer.synced)
    }).pipe(Effect.scoped),
)

it.effect("skips objects that do not decode instead of failing", () =>
  Effect.gen(function* () {
    const { source } = yield* scripted(
      [{ items: [{ metadata: 42 }, cr("b", "3")], resourceVersion: "3" }],
      [[{ type: "ADDED", object: "garbage" }]],
    )
    const informer = yield* makeInformer(source)
    yield* informer.firstSync
    assert.deepStrictEqual(
      (yield* informer.all).map((r) => r.metadata.name),
      ["b"],
    )
  }).pipe(Effect.scoped),
)

it.effect(
  "keeps no certificate bytes: the cache's copy of an answered request leaves them out, a waiter's change has them",
  () =>
    Effect.gen(function* () {
      const answered = (name: string, resourceVersion: string) => ({
        metadata: {
          name,
          namespace: "ns",
          resourceVersion,
          uid: `uid-${name}`,
          creationTimestamp: "2026-01-01T00:00:00Z",
          labels: {
            "csi.cert-manager.io/node-id-hash": "n1",
            "csi.cert-manager.io/volume-id-hash": `v-${name}`,
          },
        },
        spec: { issuerRef: { name: "ca-issuer", kind: "Issuer", group: "cert-manager.io" } },
        status: {
          conditions: [
            { type: "Approved", status: "True", reason: "cert-manager.io", message: "approved" },
            {
              type: "Ready",
              status: "True",
              reason: "Issued",
              message: "Certificate fetched from issuer successfully",
            },
          ],
          certificate: Buffer.from(`certificate of ${name}`).toString("base64"),
          ca: Buffer.from("the CA").toString("base64"),
        },
      })
      const pending = cr("pending", "3")
      const { source } = yield* scripted(
        [{ items: [answered("listed", "2"), pending], resourceVersion: "3" }],
        [[{ type: "MODIFIED", object: answered("watched", "4") }]],
      )
      const informer = yield* makeInformer(source)
      const changes = yield* informer.changesOf("ns", "watched")
      yield* informer.firstSync
      const change = yield* Queue.take(changes)
      // The waiter gets the request as the API sent it.
      assert.strictEqual(change.object.status?.certificate, answered("watched", "4").status.certificate)
      for (const name of ["listed", "watched"]) {
        const cached = Option.getOrThrow(yield* informer.get("ns", name))
        assert.isTrue(cached.certificatesOmitted)
        assert.isUndefined(cached.status?.certificate)
        assert.isUndefined(cached.status?.ca)
        assert.notInclude(JSON.stringify(cached), "message")
        assert.deepStrictEqual(
          cached.status?.conditions?.map((c) => `${c.type}=${c.status}`),
          ["Approved=True", "Ready=True"],
        )
        assert.deepStrictEqual(cached.metadata.labels, { "csi.cert-manager.io/volume-id-hash": `v-${name}` })
        assert.strictEqual(cached.spec.issuerRef.name, "ca-issuer")
      }
      // Answered requests to one issuer share their spec and status: one object each, not one a volume.
      const [listed, watched] = [
        Option.getOrThrow(yield* informer.get("ns", "listed")),
        Option.getOrThrow(yield* informer.get("ns", "watched")),
      ]
      assert.strictEqual(listed.spec, watched.spec)
      assert.strictEqual(listed.status, watched.status)
      // A request not answered yet keeps its conditions whole, for the messages that describe it.
      const waiting = Option.getOrThrow(yield* informer.get("ns", "pending"))
      assert.isUndefined(waiting.certificatesOmitted)
      assert.deepStrictEqual(waiting.status, pending.status)
    }).pipe(Effect.scoped),
)

it.effect(
  "a source that applies events as they arrive: in order, the rest (an ERROR, an event that does not decode) and all after it through the stream",
  () =>
    Effect.gen(function* () {
      const applied: Array<string> = []
      const streamed: Array<string> = []
      const scriptedWatches: Array<Array<WatchEvent>> = [
        [
          { type: "ADDED", object: cr("a", "4") },
          { type: "BOOKMARK", object: { metadata: { resourceVersion: "5" } } },
          { type: "MODIFIED", object: { metadata: 42 } },
          { type: "ADDED", object: cr("b", "6") },
        ],
        [
          { type: "DELETED", object: cr("a", "7") },
          { type: "ERROR", object: { kind: "Status", code: 410 } },
          { type: "ADDED", object: cr("c", "8") },
        ],
      ]
      const lists = [
        { items: [], resourceVersion: "3" },
        { items: [cr("b", "9")], resourceVersion: "9" },
      ]
      const calls: Array<string> = []
      const source = {
        list: Effect.suspend(() => {
          calls.push("list")
          const next = lists.shift()
          return next === undefined ? Effect.never : Effect.succeed(next)
        }),
        // Hands each event to `apply` first, as the live watch does, and streams only what it leaves.
        watch: (resourceVersion: string, apply?: ApplyEvent) => {
          calls.push(`watch@${resourceVersion}`)
          const events = scriptedWatches.shift()
          if (events === undefined) return Stream.never
          const left = events.filter((event) => {
            const name = `${event.type}`
            if (apply?.(event) === true) {
              applied.push(name)
              return false
            }
            streamed.push(name)
            return true
          })
          return Stream.fromIterable(left)
        },
      }
      const informer = yield* makeInformer(source)
      const changes = yield* informer.changes
      yield* informer.firstSync
      for (let i = 0; i < 10 && calls.length < 4; i++) yield* Effect.yieldNow
      yield* TestClock.adjust("1 second")
      for (let i = 0; i < 10 && calls.length < 4; i++) yield* Effect.yieldNow
      assert.deepStrictEqual(applied, ["ADDED", "BOOKMARK", "DELETED"])
      // After the event that does not decode, the next one waits its turn on the stream.
      assert.deepStrictEqual(streamed, ["MODIFIED", "ADDED", "ERROR", "ADDED"])
      // Re-watched from the last version the events carried, then re-listed on the ERROR.
      assert.deepStrictEqual(calls, ["list", "watch@3", "watch@6", "list", "watch@9"])
      const seen = (yield* Queue.takeAll(changes)).map((c) => `${c._tag} ${c.object.metadata.name}`)
      assert.deepStrictEqual(seen, ["Upsert a", "Upsert b", "Delete a", "Upsert b"])
      assert.deepStrictEqual(
        (yield* informer.all).map((r) => r.metadata.name),
        ["b"],
      )
    }).pipe(Effect.scoped),
)

const Namespace = Schema.Literals(["ns1", "ns2"])
const Name = Schema.Literals(["a", "b", "c", "d"])
/** The volume-id-hash label's value, or no label. */
const Hash = Schema.Literals(["h1", "h2", "h3", "none"])
const Step = Schema.Union([
  Schema.Struct({
    type: Schema.Literals(["ADDED", "MODIFIED", "DELETED"]),
    namespace: Namespace,
    name: Name,
    hash: Hash,
  }),
  Schema.Struct({
    type: Schema.Literal("RELIST"),
    items: Schema.Array(Schema.Struct({ namespace: Namespace, name: Name, hash: Hash })),
  }),
])

const labelled = (namespace: string, name: string, hash: string, resourceVersion: string) => ({
  metadata: {
    name,
    namespace,
    resourceVersion,
    ...(hash === "none"
      ? {}
      : { labels: { "csi.cert-manager.io/node-id-hash": "n1", [volumeIdHashLabel]: hash } }),
  },
  spec: { issuerRef: { name: "ca-issuer" } },
})

it.effect.prop(
  "the volume-id-hash index holds what a filter over the whole cache finds, after any watch events and re-lists",
  { steps: Schema.Array(Step).check(Schema.isMaxLength(40)) },
  ({ steps }) =>
    Effect.gen(function* () {
      const lists = yield* Queue.unbounded<ListResult>()
      // Each watch hands the test its `apply` (events applied at once) and the queue its stream reads.
      const watches = yield* Queue.unbounded<{ apply: ApplyEvent; stream: Queue.Queue<WatchEvent> }>()
      const source = {
        list: Queue.take(lists),
        watch: (_: string, apply?: ApplyEvent) =>
          Stream.unwrap(
            Effect.gen(function* () {
              const stream = yield* Queue.unbounded<WatchEvent>()
              if (apply !== undefined) yield* Queue.offer(watches, { apply, stream })
              return Stream.fromQueue(stream)
            }),
          ),
      }
      let version = 1
      yield* Queue.offer(lists, { items: [], resourceVersion: "1" })
      const informer = yield* makeInformer(source)
      let watch = yield* Queue.take(watches)
      const check = Effect.gen(function* () {
        const all = yield* informer.all
        for (const hash of ["h1", "h2", "h3", "none"]) {
          const names = (requests: ReadonlyArray<(typeof all)[number]>) =>
            requests.map((r) => `${r.metadata.namespace}/${r.metadata.name}`).sort()
          assert.deepStrictEqual(
            names(yield* informer.indexed(hash)),
            names(all.filter((r) => r.metadata.labels?.[volumeIdHashLabel] === hash)),
            hash,
          )
        }
      })
      for (const step of steps) {
        version += 1
        if (step.type === "RELIST") {
          // An ERROR on the stream makes the informer re-list; it watches again once the list is in.
          yield* Queue.offer(lists, {
            items: step.items.map((i) => labelled(i.namespace, i.name, i.hash, String(version))),
            resourceVersion: String(version),
          })
          yield* Queue.offer(watch.stream, { type: "ERROR", object: { kind: "Status", code: 410 } })
          watch = yield* Queue.take(watches)
        } else {
          const object = labelled(step.namespace, step.name, step.hash, String(version))
          assert.isTrue(watch.apply({ type: step.type, object }))
        }
        yield* check
      }
    }).pipe(Effect.scoped),
  { arbitrary: { runs: 300 } },
)

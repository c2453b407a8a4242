/**
 * The target path as the disk has it, over fakes (RecordingMounter places files,
 * symlinks and foreign mounts): publish refuses a non-directory and any target that
 * resolves into the data root before anything is registered; a symlinked kubelet root
 * works; unpublish refuses the same resolutions, and leaves what is not its own at a
 * target in place while still removing the volume.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { InvalidRequest } from "../../src/csi/request.js"
import { FakeCertificateRequests } from "../../src/testing/fake-certificate-requests.js"
import { MemoryVolumeStore, memoryStoreRoot } from "../../src/testing/memory-store.js"
import { changingOperations, type FakeEntry, RecordingMounter } from "../../src/testing/recording-mounter.js"
import { Lifecycle } from "../../src/volume/lifecycle.js"
import { publish } from "../../src/volume/publish.js"
import { unpublish } from "../../src/volume/unpublish.js"
import { newVolumeId, publishRequest, targetPathOf, testLayer, unpublishRequest } from "./programs-support.js"

/** Nothing was registered, requested or mounted. */
const assertUntouched = Effect.gen(function* () {
  assert.deepStrictEqual(yield* (yield* MemoryVolumeStore).volumeIds, [])
  assert.deepStrictEqual(yield* (yield* FakeCertificateRequests).submitted, [])
  const calls = yield* (yield* RecordingMounter).calls
  assert.deepStrictEqual(
    calls.filter((c) => changingOperations.has(c.operation)),
    [],
  )
})

const invalid = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(effect)
    assert.instanceOf(error, InvalidRequest)
    return (error as InvalidRequest).message
  })

describe("publish onto the target path as the disk has it", () => {
  const entries: ReadonlyArray<{ name: string; entry: FakeEntry; expected: string }> = [
    { name: "a regular file", entry: { kind: "file" }, expected: "is a regular file, not a directory" },
    { name: "a socket", entry: { kind: "file", what: "a socket" }, expected: "is a socket, not a directory" },
    {
      name: "a symlink",
      entry: { kind: "symlink", to: "/srv/elsewhere" },
      expected: "is a symbolic link, not a directory",
    },
  ]
  it.effect.each(entries)(
    "onto $name is INVALID_ARGUMENT, before anything is registered",
    ({ entry, expected }) =>
      Effect.gen(function* () {
        const id = newVolumeId()
        yield* (yield* RecordingMounter).place(targetPathOf(id), entry)
        const message = yield* invalid(publish(publishRequest(id)))
        assert.include(message, expected)
        assert.include(message, `target_path "${targetPathOf(id)}"`)
        yield* assertUntouched
      }).pipe(Effect.provide(testLayer())),
  )

  it.effect("through a symlinked parent into the data root is INVALID_ARGUMENT", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      const target = targetPathOf(id)
      // the pod's volume directory leads into the data root
      yield* (yield* RecordingMounter).place(target.replace(/\/mount$/, ""), {
        kind: "symlink",
        to: `${memoryStoreRoot}/${id}`,
      })
      const message = yield* invalid(publish(publishRequest(id)))
      assert.include(message, `which resolves to "${memoryStoreRoot}/${id}/mount"`)
      assert.include(message, "is inside the driver's data root")
      yield* assertUntouched
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("with a target that is a symlink to the data root is INVALID_ARGUMENT", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* (yield* RecordingMounter).place(targetPathOf(id), { kind: "symlink", to: memoryStoreRoot })
      const message = yield* invalid(publish(publishRequest(id)))
      assert.include(message, "is the driver's data root")
      yield* assertUntouched
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("through a kubelet root that is a symlink works, and unpublish takes it down", () =>
    Effect.gen(function* () {
      const mounter = yield* RecordingMounter
      yield* mounter.place("/var/lib/kubelet", { kind: "symlink", to: "/data/kubelet" })
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      const real = targetPathOf(id).replace("/var/lib/kubelet", "/data/kubelet")
      assert.deepStrictEqual([...(yield* mounter.mounts).keys()], [real])
      // a republish finds the bind through the symlink and binds nothing more
      yield* publish(publishRequest(id))
      const binds = (yield* mounter.calls).filter((c) => c.operation === "bindReadOnly")
      assert.strictEqual(binds.length, 1)
      yield* unpublish(unpublishRequest(id))
      assert.strictEqual((yield* mounter.mounts).size, 0)
      assert.deepStrictEqual(yield* (yield* MemoryVolumeStore).volumeIds, [])
    }).pipe(Effect.provide(testLayer())),
  )
})

/** Warnings logged while `effect` runs. */
const warnings = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const capture = Logger.make(({ logLevel, message }) => {
      if (logLevel === "Warn") lines.push(Array.isArray(message) ? message.join(" ") : String(message))
    })
    yield* effect.pipe(Effect.provide(Logger.layer([capture])))
    return lines
  })

describe("unpublish of the target path as the disk has it", () => {
  it.effect("refuses a target that resolves into the data root, and keeps the volume", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* publish(publishRequest(id))
      const mounter = yield* RecordingMounter
      const evil = "/var/lib/kubelet/pods/evil/volumes/kubernetes.io~csi/tls"
      yield* mounter.place(evil, { kind: "symlink", to: memoryStoreRoot })
      const message = yield* invalid(unpublish(unpublishRequest(id, `${evil}/mount`)))
      assert.include(message, `which resolves to "${memoryStoreRoot}/mount"`)
      assert.deepStrictEqual(yield* (yield* MemoryVolumeStore).volumeIds, [id])
      assert.strictEqual(yield* (yield* Lifecycle).size, 1)
      assert.isFalse((yield* mounter.calls).some((c) => c.operation === "unbind"))
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect.each([
    ["another mount on top of ours", "something else is mounted there (nfs)"],
    ["a non-empty directory", "the directory is not empty"],
    ["a regular file", "it is a regular file"],
  ])("leaves %s in place, answers OK and says so in the log; the volume itself goes", ([name, reason]) =>
    Effect.gen(function* () {
      const id = newVolumeId()
      const target = targetPathOf(id)
      const mounter = yield* RecordingMounter
      if (name === "a regular file") {
        yield* mounter.place(target, { kind: "file" })
      } else {
        yield* publish(publishRequest(id))
        if (name === "a non-empty directory") {
          yield* mounter.place(target, { kind: "directory", empty: false })
        } else {
          yield* mounter.mountOther(target, "nfs")
        }
      }
      const logged = yield* warnings(unpublish(unpublishRequest(id)))
      assert.deepStrictEqual(logged, [`left the target path as it is: ${reason}`])
      assert.deepStrictEqual(yield* (yield* MemoryVolumeStore).volumeIds, [])
      if (name === "another mount on top of ours") {
        assert.deepStrictEqual((yield* mounter.mounts).get(target), { kind: "other", description: "nfs" })
      }
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("never takes off another volume's bind", () =>
    Effect.gen(function* () {
      const a = newVolumeId()
      const b = newVolumeId()
      yield* publish(publishRequest(a))
      yield* publish(publishRequest(b))
      // b's unpublish, pointed at a's target
      const logged = yield* warnings(unpublish(unpublishRequest(b, targetPathOf(a))))
      assert.strictEqual(logged.length, 1)
      assert.match(logged[0]!, /something else is mounted there/)
      const mounts = yield* (yield* RecordingMounter).mounts
      assert.isTrue(mounts.has(targetPathOf(a)))
      assert.deepStrictEqual(yield* (yield* MemoryVolumeStore).volumeIds, [a])
    }).pipe(Effect.provide(testLayer())),
  )
})

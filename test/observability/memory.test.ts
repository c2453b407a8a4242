/**
 * The C heap trim: the native helper loads (it is built with the mount helper by
 * `npm run native`) and trims; the layer trims after a major GC and says so at debug.
 */
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, References, Result } from "effect"
import { loadMemoryAddon, MemoryTrim } from "../../src/observability/memory.js"

const addon = loadMemoryAddon()

describe("the memory helper", () => {
  it("loads from build/Release and trims", async () => {
    assert.isTrue(Result.isSuccess(addon), Result.isFailure(addon) ? addon.failure : "")
    if (Result.isSuccess(addon)) assert.isBoolean(await addon.success.trim())
  })

  it("explains a file that is not the helper", () => {
    assert.isTrue(Result.isFailure(loadMemoryAddon("/nonexistent/memory.node")))
  })

  it.live("trims after a major GC, once the collector has settled", () =>
    Effect.gen(function* () {
      v8.setFlagsFromString("--expose-gc")
      const gc = vm.runInNewContext("gc") as () => void
      const messages: Array<string> = []
      const capture = Logger.make((options) => void messages.push(String(options.message)))
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Layer.build(MemoryTrim)
          // C memory freed by the collector: array buffers below the mmap threshold.
          let buffers: Array<Buffer> | undefined = Array.from({ length: 20_000 }, () => Buffer.alloc(2048))
          assert.strictEqual(buffers.length, 20_000)
          buffers = undefined
          gc()
          yield* Effect.sleep("1500 millis")
        }),
      ).pipe(
        Effect.provide(Logger.layer([capture])),
        Effect.provideService(References.MinimumLogLevel, "Debug"),
      )
      assert.include(messages.join("\n"), "returned free C heap memory to the kernel")
    }),
  )
})

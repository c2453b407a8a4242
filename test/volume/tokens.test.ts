/**
 * Tokens: awaitValid waits until the volume holds a token that is not about to
 * expire (30 s of slack), wakes on a set for that volume only, and a removed
 * token is gone.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Redacted } from "effect"
import { TestClock } from "effect/testing"
import type { ServiceAccountToken } from "../../src/csi/token.js"
import { Tokens } from "../../src/volume/tokens.js"

const tokenValid = (expiresAt: Date | undefined, value: string): ServiceAccountToken => ({
  token: Redacted.make(value),
  expiresAt,
})

describe("Tokens", () => {
  it.effect("awaitValid waits for a set, and returns the token set", () =>
    Effect.gen(function* () {
      const tokens = yield* Tokens
      const waiting = yield* Effect.forkChild(tokens.awaitValid("vol-1"))
      yield* Effect.yieldNow
      yield* tokens.set("vol-2", tokenValid(undefined, "other volume"))
      yield* Effect.yieldNow
      assert.isUndefined(waiting.pollUnsafe(), "a token of another volume does not satisfy it")
      yield* tokens.set("vol-1", tokenValid(new Date(3_600_000), "mine"))
      const token = yield* Fiber.join(waiting)
      assert.strictEqual(Redacted.value(token.token), "mine")
    }).pipe(Effect.provide(Tokens.layer)),
  )

  it.effect("a token expired, or expiring within 30 s, is not valid; a fresh one is", () =>
    Effect.gen(function* () {
      const tokens = yield* Tokens
      yield* TestClock.setTime(1_000_000)
      yield* tokens.set("vol-1", tokenValid(new Date(999_000), "expired"))
      const waiting = yield* Effect.forkChild(tokens.awaitValid("vol-1"))
      yield* Effect.yieldNow
      assert.isUndefined(waiting.pollUnsafe())
      yield* tokens.set("vol-1", tokenValid(new Date(1_030_000), "expires in 30 s"))
      yield* Effect.yieldNow
      assert.isUndefined(waiting.pollUnsafe())
      yield* tokens.set("vol-1", tokenValid(new Date(1_030_001), "fresh"))
      assert.strictEqual(Redacted.value((yield* Fiber.join(waiting)).token), "fresh")
    }).pipe(Effect.provide(Tokens.layer)),
  )

  it.effect("a token without an expiry is valid; a removed token is gone", () =>
    Effect.gen(function* () {
      const tokens = yield* Tokens
      yield* tokens.set("vol-1", tokenValid(undefined, "forever"))
      assert.strictEqual(Redacted.value((yield* tokens.awaitValid("vol-1")).token), "forever")
      yield* tokens.remove("vol-1")
      const waiting = yield* Effect.forkChild(tokens.awaitValid("vol-1"))
      yield* Effect.yieldNow
      assert.isUndefined(waiting.pollUnsafe())
      yield* Fiber.interrupt(waiting)
    }).pipe(Effect.provide(Tokens.layer)),
  )
})

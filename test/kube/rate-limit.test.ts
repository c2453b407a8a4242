import { assert, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { makeRateLimiter } from "../../src/kube/rate-limit.js"

it.effect("lets a burst through at once, then holds to the rate", () =>
  Effect.gen(function* () {
    const limiter = yield* makeRateLimiter(10, 5)
    // The burst: five requests without waiting.
    for (let i = 0; i < 5; i++) yield* limiter.take
    const sixth = yield* Effect.forkChild(limiter.take)
    yield* TestClock.adjust("50 millis")
    assert.isUndefined(sixth.pollUnsafe())
    yield* TestClock.adjust("50 millis")
    yield* Fiber.join(sixth)
    // Then one every 100 ms.
    const seventh = yield* Effect.forkChild(limiter.take)
    yield* TestClock.adjust("99 millis")
    assert.isUndefined(seventh.pollUnsafe())
    yield* TestClock.adjust("1 millis")
    yield* Fiber.join(seventh)
  }),
)

/**
 * A KeyGenerator for unit tests: one real key per algorithm and size, made on
 * first use and then handed out again for the whole process, so tests that build
 * many volumes do not each pay for RSA generation. `parse` is the live one.
 */
import type * as crypto from "node:crypto"
import { Effect, Layer } from "effect"
import type { KeySpec } from "../attributes/spec.js"
import { generatePrivateKey, KeyGenerator, parsePrivateKey, toPrivateKey } from "../pki/keys.js"

// Process-wide on purpose: the point is to generate each kind of key once per test run.
const cache = new Map<string, crypto.KeyObject>()

const generate = Effect.fn("FakeKeyGenerator.generate")(function* (spec: KeySpec) {
  const id = `${spec.algorithm}/${spec.size}`
  const cached = cache.get(id)
  if (cached !== undefined) return yield* toPrivateKey(spec, cached)
  const key = yield* generatePrivateKey(spec)
  cache.set(id, key.keyObject)
  return key
})

export const FakeKeyGenerator = {
  layer: Layer.succeed(KeyGenerator, { generate, parse: parsePrivateKey }),
} as const

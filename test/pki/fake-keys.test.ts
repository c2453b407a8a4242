import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { KeyError, KeyGenerator } from "../../src/pki/index.js"
import { FakeKeyGenerator } from "../../src/testing/fake-keys.js"
import { keySpec } from "./support.js"

const der = (key: { keyObject: { export: (o: { type: "pkcs8"; format: "der" }) => Buffer } }) =>
  key.keyObject.export({ type: "pkcs8", format: "der" }).toString("hex")

describe("FakeKeyGenerator", () => {
  it.effect("hands back the same key for the same algorithm and size, encoded per spec", () =>
    Effect.gen(function* () {
      const g = yield* KeyGenerator
      const a = yield* g.generate(keySpec("RSA", 2048, "PKCS1"))
      const started = performance.now()
      const b = yield* g.generate(keySpec("RSA", 2048, "PKCS1"))
      const c = yield* g.generate(keySpec("RSA", 2048, "PKCS8"))
      assert.isBelow(performance.now() - started, 50)
      assert.strictEqual(der(a), der(b))
      assert.strictEqual(der(a), der(c))
      assert.match(Redacted.value(a.pem), /^-----BEGIN RSA PRIVATE KEY-----/)
      assert.match(Redacted.value(c.pem), /^-----BEGIN PRIVATE KEY-----/)
      assert.deepStrictEqual(c.spec, keySpec("RSA", 2048, "PKCS8"))
      const other = yield* g.generate(keySpec("ECDSA", 256, "PKCS8"))
      assert.notStrictEqual(der(other), der(a))
      assert.strictEqual(other.keyObject.asymmetricKeyType, "ec")
    }).pipe(Effect.provide(FakeKeyGenerator.layer)),
  )

  it.effect("rejects unsupported specs and parses like the live generator", () =>
    Effect.gen(function* () {
      const g = yield* KeyGenerator
      const error = yield* Effect.flip(g.generate(keySpec("RSA", 512)))
      assert.strictEqual(error.reason, "UnsupportedSpec")
      const key = yield* g.generate(keySpec("ECDSA", 256, "PKCS8"))
      const parsed = yield* g.parse(key.pem, keySpec("ECDSA", 256, "PKCS8"))
      assert.strictEqual(der(parsed), der(key))
      const mismatch = yield* Effect.flip(g.parse(key.pem, keySpec("ECDSA", 384, "PKCS8")))
      assert.instanceOf(mismatch, KeyError)
      assert.strictEqual(mismatch.reason, "SpecMismatch")
    }).pipe(Effect.provide(FakeKeyGenerator.layer)),
  )
})

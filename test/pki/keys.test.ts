import * as crypto from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Redacted } from "effect"
import { afterAll } from "vitest"
import { KeyError, KeyGenerator } from "../../src/pki/index.js"
import { generate, keySpec, opensslOk, pemOf, tempDir } from "./support.js"

const t = tempDir()
afterAll(t.cleanup)

const cases = [
  {
    spec: keySpec("RSA", 2048, "PKCS1"),
    header: "RSA PRIVATE KEY",
    text: "Private-Key: (2048 bit, 2 primes)",
  },
  { spec: keySpec("RSA", 2048, "PKCS8"), header: "PRIVATE KEY", text: "Private-Key: (2048 bit, 2 primes)" },
  {
    spec: keySpec("RSA", 3072, "PKCS1"),
    header: "RSA PRIVATE KEY",
    text: "Private-Key: (3072 bit, 2 primes)",
  },
  { spec: keySpec("ECDSA", 256, "PKCS1"), header: "PRIVATE KEY", text: "NIST CURVE: P-256" },
  { spec: keySpec("ECDSA", 384, "PKCS8"), header: "PRIVATE KEY", text: "NIST CURVE: P-384" },
  { spec: keySpec("ECDSA", 521, "PKCS8"), header: "PRIVATE KEY", text: "NIST CURVE: P-521" },
  { spec: keySpec("Ed25519", 0, "PKCS1"), header: "PRIVATE KEY", text: "ED25519 Private-Key" },
  { spec: keySpec("Ed25519", 0, "PKCS8"), header: "PRIVATE KEY", text: "ED25519 Private-Key" },
] as const

describe("KeyGenerator.generate", () => {
  for (const { spec, header, text } of cases) {
    it(`${spec.algorithm}-${spec.size} ${spec.encoding} is a ${header} that openssl reads`, async () => {
      const key = await generate(spec)
      const pem = pemOf(key)
      assert.match(pem, new RegExp(`^-----BEGIN ${header}-----\\n`))
      assert.match(pem, new RegExp(`-----END ${header}-----\\n$`))
      const file = t.file(`${spec.algorithm}-${spec.size}-${spec.encoding}.pem`, pem)
      assert.include(opensslOk(["pkey", "-in", file, "-noout", "-text"]), text)
      if (spec.algorithm === "RSA")
        assert.include(opensslOk(["rsa", "-in", file, "-check", "-noout"]), "RSA key ok")
      assert.deepStrictEqual(key.spec, spec)
    })
  }

  for (const { spec } of cases) {
    it(`${spec.algorithm}-${spec.size} ${spec.encoding} is armoured as OpenSSL's PEM writer armours it`, async () => {
      const key = await generate(spec)
      const type = spec.algorithm === "RSA" && spec.encoding === "PKCS1" ? "pkcs1" : "pkcs8"
      assert.strictEqual(pemOf(key), key.keyObject.export({ type, format: "pem" }).toString())
      const spki = crypto.createPublicKey(key.keyObject).export({ type: "spki", format: "der" })
      if (spec.algorithm === "ECDSA") assert.deepStrictEqual(Buffer.from(key.spki ?? []), spki)
      else assert.isUndefined(key.spki)
    })
  }

  it("does not print the key when logged or stringified", async () => {
    const key = await generate(keySpec("ECDSA", 256, "PKCS8"))
    assert.notInclude(String(key.pem), "PRIVATE KEY")
    assert.notInclude(JSON.stringify({ pem: key.pem }), "PRIVATE KEY")
  })

  it("makes a different key each time", async () => {
    const a = await generate(keySpec("ECDSA", 256, "PKCS8"))
    const b = await generate(keySpec("ECDSA", 256, "PKCS8"))
    assert.notStrictEqual(pemOf(a), pemOf(b))
  })

  for (const spec of [
    keySpec("RSA", 1024),
    keySpec("RSA", 16384),
    keySpec("ECDSA", 224, "PKCS8"),
    keySpec("ECDSA", 0, "PKCS8"),
  ]) {
    it.effect(`rejects ${spec.algorithm}-${spec.size}`, () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(KeyGenerator.use((g) => g.generate(spec)))
        assert.instanceOf(error, KeyError)
        assert.strictEqual(error.reason, "UnsupportedSpec")
      }).pipe(Effect.provide(KeyGenerator.layer)),
    )
  }

  it("RSA-4096 generation does not block the event loop", async () => {
    let ticks = 0
    let longestGap = 0
    let last = performance.now()
    const timer = setInterval(() => {
      const now = performance.now()
      longestGap = Math.max(longestGap, now - last)
      last = now
      ticks++
    }, 5)
    const started = performance.now()
    const key = await generate(keySpec("RSA", 4096, "PKCS1"))
    const elapsed = performance.now() - started
    clearInterval(timer)
    assert.strictEqual(key.keyObject.asymmetricKeyDetails?.modulusLength, 4096)
    // RSA-4096 takes hundreds of ms to seconds; the timer must have kept firing throughout.
    assert.isAbove(ticks, Math.floor(elapsed / 5 / 4), `only ${ticks} ticks in ${elapsed.toFixed(0)} ms`)
    assert.isBelow(longestGap, 200, `the event loop stalled for ${longestGap.toFixed(0)} ms`)
  })

  it.live("is interruptible: an interrupted RSA-8192 generation returns at once", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(KeyGenerator.use((g) => g.generate(keySpec("RSA", 8192))))
      yield* Effect.sleep("20 millis")
      const started = performance.now()
      const exit = yield* Fiber.interrupt(fiber).pipe(Effect.andThen(Fiber.await(fiber)))
      assert.isTrue(Exit.hasInterrupts(exit))
      assert.isBelow(performance.now() - started, 100)
    }).pipe(Effect.provide(KeyGenerator.layer)),
  )
})

describe("KeyGenerator.parse", () => {
  const parse = (pem: string, spec: ReturnType<typeof keySpec>) =>
    Effect.runPromise(
      KeyGenerator.use((g) => g.parse(Redacted.make(pem), spec)).pipe(
        Effect.provide(KeyGenerator.layer),
        Effect.result,
      ),
    )

  it("reads back a key of the same spec, re-encoded as the spec asks", async () => {
    const original = await generate(keySpec("RSA", 2048, "PKCS8"))
    const result = await parse(pemOf(original), keySpec("RSA", 2048, "PKCS1"))
    assert.isTrue(result._tag === "Success")
    if (result._tag !== "Success") return
    assert.match(pemOf(result.success), /^-----BEGIN RSA PRIVATE KEY-----/)
    const a = original.keyObject.export({ type: "pkcs8", format: "der" })
    const b = result.success.keyObject.export({ type: "pkcs8", format: "der" })
    assert.isTrue(a.equals(b))
  })

  it("reads ECDSA and Ed25519 keys", async () => {
    for (const spec of [keySpec("ECDSA", 384, "PKCS8"), keySpec("Ed25519", 0, "PKCS8")]) {
      const key = await generate(spec)
      const result = await parse(pemOf(key), spec)
      assert.strictEqual(result._tag, "Success")
    }
  })

  const failsWith = async (pem: string, spec: ReturnType<typeof keySpec>, reason: KeyError["reason"]) => {
    const result = await parse(pem, spec)
    assert.strictEqual(result._tag, "Failure")
    if (result._tag !== "Failure") return
    assert.instanceOf(result.failure, KeyError)
    assert.strictEqual(result.failure.reason, reason)
    return result.failure
  }

  it("fails on garbage, truncated PEM, empty input and a certificate", async () => {
    const key = await generate(keySpec("ECDSA", 256, "PKCS8"))
    const pem = pemOf(key)
    await failsWith("not a key", keySpec("ECDSA", 256), "Unreadable")
    await failsWith("", keySpec("ECDSA", 256), "Unreadable")
    const truncated = pem.slice(0, pem.length / 2)
    const error = await failsWith(truncated, keySpec("ECDSA", 256), "Unreadable")
    assert.notInclude(error?.message ?? "", truncated.slice(30, 60))
  })

  it("fails when the algorithm, size or curve differ from the spec", async () => {
    const rsa = pemOf(await generate(keySpec("RSA", 2048, "PKCS1")))
    const p256 = pemOf(await generate(keySpec("ECDSA", 256, "PKCS8")))
    const ed = pemOf(await generate(keySpec("Ed25519", 0, "PKCS8")))
    await failsWith(rsa, keySpec("RSA", 3072), "SpecMismatch")
    await failsWith(rsa, keySpec("ECDSA", 256), "SpecMismatch")
    await failsWith(p256, keySpec("ECDSA", 384), "SpecMismatch")
    await failsWith(p256, keySpec("Ed25519", 0), "SpecMismatch")
    await failsWith(ed, keySpec("RSA", 2048), "SpecMismatch")
  })

  it("fails on a passphrase-protected key instead of prompting", async () => {
    const key = await generate(keySpec("ECDSA", 256, "PKCS8"))
    const encrypted = opensslOk(["pkey", "-aes256", "-passout", "pass:secret"], pemOf(key))
    assert.include(encrypted, "ENCRYPTED PRIVATE KEY")
    await failsWith(encrypted, keySpec("ECDSA", 256), "Unreadable")
  })
})

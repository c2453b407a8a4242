import { Effect, Redacted } from "effect"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import type { Pkcs12Profile } from "../../src/attributes/spec.js"
import { buildCsr, encodePkcs12, Pkcs12Error, type PrivateKey } from "../../src/pki/index.js"
import {
  generate,
  hasLegacyProvider,
  keySpec,
  makeCa,
  makeSpec,
  openssl,
  opensslOk,
  pemOf,
  signCsr,
  tempDir,
} from "./support.js"

const t = tempDir()
afterAll(t.cleanup)

interface Fixture {
  readonly key: PrivateKey
  readonly leaf: string
  readonly intermediate: string
  readonly ca: string
}

const fixture = async (name: string, spec = keySpec("RSA", 2048, "PKCS1")): Promise<Fixture> => {
  const ca = makeCa(t, `${name}-ca`)
  const intermediate = makeCa(t, `${name}-intermediate`)
  const key = await generate(spec)
  const csr = await Effect.runPromise(buildCsr(makeSpec({ key: spec, dnsNames: [`${name}.example`] }), key))
  return { key, leaf: signCsr(t, ca, csr, `${name}-leaf`), intermediate: intermediate.pem, ca: ca.pem }
}

const encode = (f: Fixture, profile: Pkcs12Profile, password: string) =>
  Effect.runPromise(
    encodePkcs12({
      key: f.key,
      certificatePem: `${f.leaf}${f.intermediate}`,
      caPem: f.ca,
      password: Redacted.make(password),
      profile,
    }),
  )

const pemBlocks = (text: string) => text.match(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g) ?? []
const derOf = (certPem: string) => opensslOk(["x509", "-outform", "DER"], certPem)
const pubkeyOfKey = (keyPem: string) => opensslOk(["pkey", "-pubout"], keyPem)
const pubkeyOfCert = (certPem: string) => opensslOk(["x509", "-noout", "-pubkey"], certPem)

const legacy = hasLegacyProvider()
const profiles: ReadonlyArray<{
  readonly profile: Pkcs12Profile
  readonly info: ReadonlyArray<string>
  readonly needsLegacy: boolean
}> = [
  {
    profile: "LegacyRC2",
    needsLegacy: true,
    info: [
      "MAC: sha1, Iteration 1",
      "MAC length: 20, salt length: 8",
      "PKCS7 Encrypted data: pbeWithSHA1And40BitRC2-CBC, Iteration 2048",
      "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048",
    ],
  },
  {
    profile: "LegacyDES",
    needsLegacy: false,
    info: [
      "MAC: sha1, Iteration 1",
      "MAC length: 20, salt length: 8",
      "PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048",
      "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048",
    ],
  },
  {
    profile: "Modern2023",
    needsLegacy: false,
    info: [
      "MAC: sha256, Iteration 2048",
      "MAC length: 32, salt length: 16",
      "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256",
      "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256",
    ],
  },
]

describe("encodePkcs12", () => {
  let f: Fixture
  beforeAll(async () => {
    f = await fixture("main")
  })

  for (const { profile, info, needsLegacy } of profiles) {
    const skip = needsLegacy && !legacy
    if (skip) {
      it.skip(`${profile}: SKIPPED — this openssl has no legacy provider (-legacy), so it cannot read RC2`, () => {})
      continue
    }
    const extra = needsLegacy ? ["-legacy"] : []
    describe(profile, () => {
      let file: string
      beforeAll(async () => {
        file = t.file(`${profile}.p12`, await encode(f, profile, "s3cret pass"))
      })
      const p12 = (args: ReadonlyArray<string>, password = "s3cret pass") =>
        openssl(["pkcs12", "-in", file, "-passin", `pass:${password}`, ...extra, ...args])

      it("opens with openssl pkcs12 -info and uses the profile's algorithms", () => {
        const r = p12(["-info", "-noout"])
        assert.strictEqual(r.status, 0, r.stderr)
        for (const line of info) assert.include(r.stderr, line)
        assert.include(r.stderr, "Certificate bag")
      })

      it("holds the leaf, then the chain, then the CA, with localKeyID on the leaf only", () => {
        const r = p12(["-nokeys"])
        assert.strictEqual(r.status, 0, r.stderr)
        const certs = pemBlocks(r.stdout)
        assert.strictEqual(certs.length, 3)
        assert.deepStrictEqual(certs.map(derOf), [f.leaf, f.intermediate, f.ca].map(derOf))
        const leafAttrs = r.stdout.split("-----BEGIN CERTIFICATE-----")[0]!
        assert.include(leafAttrs, "localKeyID:")
        assert.strictEqual(r.stdout.match(/localKeyID/g)?.length, 1)
      })

      it("holds our key, linked to the leaf by localKeyID", () => {
        const r = p12(["-nocerts", "-noenc"])
        assert.strictEqual(r.status, 0, r.stderr)
        const keys = pemBlocks(r.stdout)
        assert.strictEqual(keys.length, 1)
        assert.strictEqual(pubkeyOfKey(keys[0]!), pubkeyOfKey(pemOf(f.key)))
        assert.strictEqual(pubkeyOfKey(keys[0]!), pubkeyOfCert(f.leaf))
        const keyId = r.stdout.match(/localKeyID: ([0-9A-F ]+)/)?.[1]
        const certId = p12(["-nokeys"]).stdout.match(/localKeyID: ([0-9A-F ]+)/)?.[1]
        const fingerprint = opensslOk(["x509", "-noout", "-fingerprint", "-sha1"], f.leaf)
          .trim()
          .replace(/^.*=/, "")
          .replaceAll(":", " ")
        assert.strictEqual(keyId?.trim(), fingerprint)
        assert.strictEqual(certId?.trim(), fingerprint)
      })

      it("refuses the wrong password", () => {
        const r = p12(["-info", "-noout"], "wrong")
        assert.notStrictEqual(r.status, 0)
        assert.match(r.stderr, /Mac verify error|invalid password/i)
      })
    })
  }

  it("writes ECDSA and Ed25519 keys too", async () => {
    for (const spec of [keySpec("ECDSA", 384, "PKCS8"), keySpec("Ed25519", 0, "PKCS8")]) {
      const g = await fixture(`${spec.algorithm}`, spec)
      const file = t.file(`${spec.algorithm}.p12`, await encode(g, "Modern2023", "pw"))
      const out = opensslOk(["pkcs12", "-in", file, "-passin", "pass:pw", "-nocerts", "-noenc"])
      assert.strictEqual(pubkeyOfKey(pemBlocks(out)[0]!), pubkeyOfCert(g.leaf))
    }
  })

  it("works with an empty CA, an empty password and a non-ASCII password", async () => {
    for (const [profile, password] of [
      ["Modern2023", ""],
      ["LegacyDES", ""],
      ["Modern2023", "pässwörd€"],
      ["LegacyDES", "pässwörd€"],
    ] as const) {
      const bytes = await Effect.runPromise(
        encodePkcs12({
          key: f.key,
          certificatePem: f.leaf,
          caPem: "",
          password: Redacted.make(password),
          profile,
        }),
      )
      const file = t.file(`edge-${profile}-${password.length}.p12`, bytes)
      const r = openssl(["pkcs12", "-in", file, "-passin", `pass:${password}`, "-nokeys"])
      assert.strictEqual(r.status, 0, `${profile} ${JSON.stringify(password)}: ${r.stderr}`)
      assert.strictEqual(pemBlocks(r.stdout).length, 1)
    }
  })

  it("fails without leaking the password on a password outside the BMP", async () => {
    const error = await Effect.runPromise(
      Effect.flip(
        encodePkcs12({
          key: f.key,
          certificatePem: f.leaf,
          caPem: "",
          password: Redacted.make("secret🔑"),
          profile: "Modern2023",
        }),
      ),
    )
    assert.instanceOf(error, Pkcs12Error)
    assert.strictEqual(error.reason, "InvalidPassword")
    assert.notInclude(error.message, "secret")
  })

  it("fails on an unreadable certificate or CA", async () => {
    const run = (certificatePem: string, caPem: string) =>
      Effect.runPromise(
        Effect.flip(
          encodePkcs12({
            key: f.key,
            certificatePem,
            caPem,
            password: Redacted.make("x"),
            profile: "LegacyDES",
          }),
        ),
      )
    assert.strictEqual((await run("", "")).reason, "InvalidCertificate")
    assert.strictEqual((await run("garbage", "")).reason, "InvalidCertificate")
    assert.strictEqual(
      (await run(f.leaf, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")).reason,
      "InvalidCertificate",
    )
  })
})

/**
 * Private keys: the `PrivateKey` value the rest of the driver carries, and the
 * `KeyGenerator` service that makes new keys (on libuv's thread pool, never on the
 * event loop) or re-reads a key already on disk when `reuse-private-key` is set.
 */
import * as crypto from "node:crypto"
import { Context, Effect, Layer, Redacted } from "effect"
import type { KeySpec } from "../attributes/spec.js"
import * as Der from "./der.js"
import { KeyError } from "./errors.js"

/** A private key with the spec it satisfies and its PEM encoding per `spec.encoding`. */
export interface PrivateKey {
  readonly spec: KeySpec
  readonly keyObject: crypto.KeyObject
  readonly pem: Redacted.Redacted<string>
  /** The public key's SubjectPublicKeyInfo (DER), when the private key's encoding carried it (EC keys). */
  readonly spki?: Uint8Array
}

/** ECDSA sizes as cert-manager names them, with the curve names Node and OpenSSL use. */
const curves = {
  256: { generate: "P-256", openssl: "prime256v1" },
  384: { generate: "P-384", openssl: "secp384r1" },
  521: { generate: "P-521", openssl: "secp521r1" },
} as const
type CurveSize = keyof typeof curves
const isCurveSize = (size: number): size is CurveSize => size in curves

/** What to ask `crypto.generateKeyPair` for; rejects specs cert-manager would reject. */
type KeyParams =
  | { readonly type: "rsa"; readonly modulusLength: number }
  | { readonly type: "ec"; readonly curve: (typeof curves)[CurveSize] }
  | { readonly type: "ed25519" }

const unsupported = (message: string) => new KeyError({ reason: "UnsupportedSpec", message })

const keyParams = (spec: KeySpec): Effect.Effect<KeyParams, KeyError> => {
  switch (spec.algorithm) {
    case "RSA":
      return Number.isInteger(spec.size) && spec.size >= 2048 && spec.size <= 8192
        ? Effect.succeed({ type: "rsa", modulusLength: spec.size })
        : Effect.fail(unsupported(`RSA key size must be between 2048 and 8192, got ${spec.size}`))
    case "ECDSA":
      return isCurveSize(spec.size)
        ? Effect.succeed({ type: "ec", curve: curves[spec.size] })
        : Effect.fail(unsupported(`ECDSA key size must be 256, 384 or 521, got ${spec.size}`))
    case "Ed25519":
      return Effect.succeed({ type: "ed25519" })
  }
}

/** One TLV of trusted DER (OpenSSL's own output): where its content starts and where it ends. */
const readTlv = (
  der: Uint8Array,
  at: number,
):
  | { readonly tag: number; readonly at: number; readonly start: number; readonly end: number }
  | undefined => {
  const tag = der[at]
  const first = der[at + 1]
  if (tag === undefined || first === undefined) return undefined
  let start = at + 2
  let length = first
  if (first >= 0x80) {
    const octets = first - 0x80
    if (octets < 1 || octets > 3) return undefined
    length = 0
    for (let i = 0; i < octets; i++) length = length * 256 + (der[start + i] ?? 0)
    start += octets
  }
  const end = start + length
  return end <= der.length ? { tag, at, start, end } : undefined
}

/**
 * The SubjectPublicKeyInfo of an EC key, from its PKCS#8 encoding: OpenSSL writes the
 * public point into the ECPrivateKey (RFC 5915's [1] publicKey), and the AlgorithmIdentifier
 * is the same in both. Spares an export through OpenSSL's encoders (~0.1 ms) per CSR.
 */
export const ecSpkiOfPkcs8 = (pkcs8: Uint8Array): Uint8Array | undefined => {
  const top = readTlv(pkcs8, 0)
  const version = top?.tag === 0x30 ? readTlv(pkcs8, top.start) : undefined
  const algorithm = version?.tag === 0x02 ? readTlv(pkcs8, version.end) : undefined
  const octets = algorithm?.tag === 0x30 ? readTlv(pkcs8, algorithm.end) : undefined
  const inner = octets?.tag === 0x04 ? readTlv(pkcs8, octets.start) : undefined
  if (algorithm === undefined || inner?.tag !== 0x30) return undefined
  for (let at = inner.start; at < inner.end; ) {
    const element = readTlv(pkcs8, at)
    if (element === undefined) return undefined
    if (element.tag === 0xa1) {
      const bits = readTlv(pkcs8, element.start)
      if (bits?.tag !== 0x03 || bits.end !== element.end) return undefined
      return Der.sequence(pkcs8.subarray(algorithm.at, algorithm.end), pkcs8.subarray(bits.at, bits.end))
    }
    at = element.end
  }
  return undefined
}

/**
 * Wraps a KeyObject, encoding it as the spec asks: PKCS#1 only exists for RSA. The DER
 * export is armoured here (what OpenSSL's PEM writer does: 64-character lines, a final
 * newline), at a fraction of the cost of OpenSSL's PEM encoder.
 */
export const toPrivateKey = (
  spec: KeySpec,
  keyObject: crypto.KeyObject,
): Effect.Effect<PrivateKey, KeyError> =>
  Effect.try({
    try: () => {
      const pkcs1 = spec.algorithm === "RSA" && spec.encoding === "PKCS1"
      const der = keyObject.export({ type: pkcs1 ? "pkcs1" : "pkcs8", format: "der" })
      const pem = `${Der.pem(pkcs1 ? "RSA PRIVATE KEY" : "PRIVATE KEY", der)}\n`
      const spki = keyObject.asymmetricKeyType === "ec" ? ecSpkiOfPkcs8(der) : undefined
      return { spec, keyObject, pem: Redacted.make(pem), ...(spki === undefined ? {} : { spki }) }
    },
    catch: () =>
      new KeyError({ reason: "GenerationFailed", message: "the private key could not be PEM-encoded" }),
  })

const generationFailed = (cause: unknown) =>
  new KeyError({
    reason: "GenerationFailed",
    message: `key generation failed: ${cause instanceof Error ? cause.message : "unknown error"}`,
  })

/**
 * RSA keys take tens of milliseconds: generated on the thread pool, and an interrupted
 * fiber just drops the late result. ECDSA and Ed25519 keys take ~20 µs, less than the trip
 * to the pool and back (~70 µs of CPU measured), so they are made in place.
 */
const generateKeyObject = (params: KeyParams): Effect.Effect<crypto.KeyObject, KeyError> => {
  switch (params.type) {
    case "rsa":
      return Effect.callback<crypto.KeyObject, KeyError>((resume) => {
        crypto.generateKeyPair(
          "rsa",
          { modulusLength: params.modulusLength },
          (err, _publicKey, privateKey) =>
            resume(err === null ? Effect.succeed(privateKey) : Effect.fail(generationFailed(err))),
        )
      })
    case "ec":
      return Effect.try({
        try: () => crypto.generateKeyPairSync("ec", { namedCurve: params.curve.generate }).privateKey,
        catch: generationFailed,
      })
    case "ed25519":
      return Effect.try({
        try: () => crypto.generateKeyPairSync("ed25519").privateKey,
        catch: generationFailed,
      })
  }
}

/** Does this KeyObject have exactly the algorithm and size the spec asks for? */
const describeMismatch = (params: KeyParams, key: crypto.KeyObject): string | undefined => {
  const details = key.asymmetricKeyDetails ?? {}
  switch (params.type) {
    case "rsa":
      if (key.asymmetricKeyType !== "rsa") return `the existing key is ${key.asymmetricKeyType}, not RSA`
      return details.modulusLength === params.modulusLength
        ? undefined
        : `the existing RSA key has ${details.modulusLength} bits, not ${params.modulusLength}`
    case "ec":
      if (key.asymmetricKeyType !== "ec") return `the existing key is ${key.asymmetricKeyType}, not ECDSA`
      return details.namedCurve === params.curve.openssl
        ? undefined
        : `the existing ECDSA key is on ${details.namedCurve}, not ${params.curve.generate}`
    case "ed25519":
      return key.asymmetricKeyType === "ed25519"
        ? undefined
        : `the existing key is ${key.asymmetricKeyType}, not Ed25519`
  }
}

/** Generates a new key for a spec. */
export const generatePrivateKey = Effect.fnUntraced(function* (spec: KeySpec) {
  const params = yield* keyParams(spec)
  const keyObject = yield* generateKeyObject(params)
  return yield* toPrivateKey(spec, keyObject)
})

/** Reads a PEM private key and checks it satisfies the spec; re-encodes it per `spec.encoding`. */
export const parsePrivateKey = Effect.fnUntraced(function* (pem: Redacted.Redacted<string>, spec: KeySpec) {
  const params = yield* keyParams(spec)
  const keyObject = yield* Effect.try({
    try: () => crypto.createPrivateKey({ key: Redacted.value(pem), format: "pem" }),
    catch: () =>
      new KeyError({ reason: "Unreadable", message: "the existing private key is not a readable PEM key" }),
  })
  const mismatch = describeMismatch(params, keyObject)
  if (mismatch !== undefined) return yield* new KeyError({ reason: "SpecMismatch", message: mismatch })
  return yield* toPrivateKey(spec, keyObject)
})

/** Makes and re-reads private keys. */
export class KeyGenerator extends Context.Service<
  KeyGenerator,
  {
    readonly generate: (spec: KeySpec) => Effect.Effect<PrivateKey, KeyError>
    /** For reuse-private-key: fails when the PEM is unreadable or not of the spec's algorithm/size. */
    readonly parse: (pem: Redacted.Redacted<string>, spec: KeySpec) => Effect.Effect<PrivateKey, KeyError>
  }
>()("csi/KeyGenerator") {
  static readonly layer = Layer.succeed(KeyGenerator, {
    generate: generatePrivateKey,
    parse: parsePrivateKey,
  })
}

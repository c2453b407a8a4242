/**
 * Properties of NodePublishVolume over generated attribute maps, from kubelet's raw
 * request to the gRPC status (decodePublish → publish → toStatus) over the fake
 * layers: any map is answered without a defect and with a bounded message; an
 * invalid one is INVALID_ARGUMENT naming a key of it, with nothing created (no API
 * write, no mount, nothing stored).
 */
import { assert, describe, it } from "@effect/vitest"
import { status as Code } from "@grpc/grpc-js"
import { Arbitrary, Effect, Schema } from "effect"
import * as K from "../../src/attributes/keys.js"
import { formatCount, maxMessageBytes, named } from "../../src/bounded.js"
import { decodePublish } from "../../src/csi/request.js"
import { toStatus } from "../../src/csi/status.js"
import type { NodePublishVolumeRequest__Output } from "../../src/gen/csi/v1/NodePublishVolumeRequest.js"
import { FakeCertificateRequests } from "../../src/testing/fake-certificate-requests.js"
import { MemoryVolumeStore } from "../../src/testing/memory-store.js"
import { RecordingMounter } from "../../src/testing/recording-mounter.js"
import { publish } from "../../src/volume/publish.js"
import { attributesWith, newVolumeId, targetPathOf, testLayer } from "../volume/programs-support.js"
import { rawPublishRequest } from "./support.js"

const call = { method: "NodePublishVolume", deadline: undefined }

/** One of the given Arbitraries, picked by a generated index. */
const oneOf = <A>(...choices: ReadonlyArray<Arbitrary.Arbitrary<A>>): Arbitrary.Arbitrary<A> =>
  Arbitrary.flatMap(
    Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: choices.length - 1 }))),
    (i) => choices[i]!,
  )
const constants = <A extends string | boolean>(values: ReadonlyArray<A>): Arbitrary.Arbitrary<A> =>
  oneOf(...values.map((value) => Arbitrary.Constant(value)))
const text = Arbitrary.schema(Schema.String)
const count = (maximum: number) =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum })))

// The issuer attributes stay fixed: any other issuer name would leave the fake issuer pending.
const fixed: ReadonlyArray<string> = [K.IssuerNameKey, K.IssuerKindKey, K.IssuerGroupKey]
const settable = K.AttributeKeys.filter((key) => !fixed.includes(key))

const key = oneOf(
  constants(settable),
  Arbitrary.map(text, (name) => `${K.CertManagerGroup}/${name}`),
  Arbitrary.map(text, (name) => `example.com/${name}`),
  Arbitrary.map(text, (name) => `${K.KubeletGroup}/x-${name}`),
  text,
  constants(["csi.cert-manager.io/dns-name", "dns-names", "csi.cert-manager.ioo/is-ca", "Key-Size"]),
)

const value = oneOf(
  text,
  constants([
    "true",
    "false",
    "ECDSA",
    "Ed25519",
    "384",
    "720h",
    "1h",
    "a.example.com",
    "10.0.0.1",
    "tls.crt",
  ]),
  constants(["", " ", "${POD_NAME}", "${NOPE}", "../x", "-1", "CN=a,XX=b", "server auth,nope", "1e9"]),
  Arbitrary.map(count(5000), (n) => Array.from({ length: n }, (_, i) => `bad!${i}`).join(",")),
  Arbitrary.map(count(70_000), (n) => "v".repeat(n)),
)

const tokens = oneOf<string | undefined>(
  Arbitrary.Constant(undefined),
  text,
  constants([
    "[]",
    "{}",
    '{"":{"token":""}}',
    '{"":{"token":"t","expirationTimestamp":"2030-02-30T00:00:00Z"}}',
  ]),
  Arbitrary.Constant(JSON.stringify({ "": { token: "t0k3n", expirationTimestamp: "2099-01-01T00:00:00Z" } })),
)

// Kept as kubelet sends them: another issuer would leave the fake pending, other pod keys are not kubelet's.
const kept: ReadonlySet<string> = new Set([
  ...fixed,
  K.PodNameKey,
  K.PodNamespaceKey,
  K.PodUidKey,
  K.ServiceAccountNameKey,
  K.EphemeralKey,
])

const requestOf = (
  attributes: Record<string, string>,
  token: string | undefined,
): NodePublishVolumeRequest__Output => {
  const volumeId = newVolumeId()
  return rawPublishRequest(
    {
      ...attributesWith(),
      ...Object.fromEntries(Object.entries(attributes).filter(([k]) => !kept.has(k))),
      ...(token === undefined ? {} : { [K.ServiceAccountTokensKey]: token }),
    },
    { volume_id: volumeId, target_path: targetPathOf(volumeId) },
  )
}

/** What the gRPC edge answers, and what the fakes saw created. */
const answer = (request: NodePublishVolumeRequest__Output, useTokenRequest: boolean) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(
      decodePublish(request, call, "/csi-data-dir", { useTokenRequest }).pipe(Effect.flatMap(publish)),
    )
    const fake = yield* FakeCertificateRequests
    const mounter = yield* RecordingMounter
    const store = yield* MemoryVolumeStore
    return {
      status: toStatus(exit),
      writes: yield* fake.writes,
      mountCalls: (yield* mounter.calls).filter((c) => c.operation !== "isMountPoint").length,
      stored: (yield* store.volumeIds).length,
    }
  }).pipe(Effect.provide(testLayer({ config: { useTokenRequest } })))

/** The keys a message may name for a problem of this request. */
const namesAKey = (details: string, request: NodePublishVolumeRequest__Output) =>
  [...Object.keys(request.volume_context), K.RequestField, K.ServiceAccountTokensKey].some((k) =>
    details.includes(named(k)),
  )

const assertInvalidAndUntouched = (
  result: Effect.Success<ReturnType<typeof answer>>,
  request: NodePublishVolumeRequest__Output,
) => {
  assert.strictEqual(result.status.name, "INVALID_ARGUMENT", result.status.details)
  assert.isTrue(namesAKey(result.status.details, request), result.status.details)
  assert.strictEqual(result.writes, 0)
  assert.strictEqual(result.mountCalls, 0)
  assert.strictEqual(result.stored, 0)
}

describe("NodePublishVolume over generated attribute maps", () => {
  it.live.prop(
    "answers every map without a defect, in at most 2 KiB; an invalid one names a key and creates nothing",
    {
      pairs: Arbitrary.array(Arbitrary.all([key, value]), { maxLength: 8 }),
      token: tokens,
      useTokenRequest: constants([true, false]),
    },
    ({ pairs, token, useTokenRequest }) =>
      Effect.gen(function* () {
        const request = requestOf(Object.fromEntries(pairs), token)
        const result = yield* answer(request, useTokenRequest)
        assert.isFalse(result.status.defect, result.status.details)
        assert.isAtMost(Buffer.byteLength(result.status.details), maxMessageBytes)
        if (result.status.code === Code.OK) return
        assertInvalidAndUntouched(result, request)
      }),
    { timeout: 120_000, arbitrary: { runs: 150 } },
  )

  /** One defect among valid attributes: the key the message must name, and its value. */
  const defects = oneOf<readonly [string, string]>(
    Arbitrary.map(
      Arbitrary.schema(Schema.String.check(Schema.isPattern(/^[a-z]{3,12}$/))),
      (name) => [`${K.CertManagerGroup}/zz-${name}`, "x"] as const,
    ),
    Arbitrary.map(text, (v) => [K.IsCaKey, `${v}?`] as const),
    Arbitrary.map(text, (v) => [K.KeySizeKey, `${v}x`] as const),
    Arbitrary.map(count(3000), (n) => [K.DnsNamesKey, `ok.example.com,bad!${n}`] as const),
    Arbitrary.map(count(3000), (n) => [K.IpSansKey, `10.0.0.1,300.0.0.${n}`] as const),
    Arbitrary.map(text, (v) => [K.DurationKey, `${v}forever`] as const),
    Arbitrary.map(text, (v) => [K.CertificateFileKey, `dir/${v}`] as const),
    Arbitrary.map(text, (v) => [K.KeyUsagesKey, `server auth,${v}-nope`] as const),
  )

  it.live.prop(
    "a map with one bad attribute is INVALID_ARGUMENT naming that attribute, and creates nothing",
    { defect: defects, useTokenRequest: constants([true, false]) },
    ({ defect: [badKey, badValue], useTokenRequest }) =>
      Effect.gen(function* () {
        const request = requestOf(
          { [badKey]: badValue },
          JSON.stringify({ "": { token: "t0k3n", expirationTimestamp: "2099-01-01T00:00:00Z" } }),
        )
        const result = yield* answer(request, useTokenRequest)
        assertInvalidAndUntouched(result, request)
        assert.include(result.status.details, named(badKey))
      }),
    { timeout: 60_000, arbitrary: { runs: 100 } },
  )

  it.live.prop(
    "malformed tokens with --use-token-request are INVALID_ARGUMENT naming the key, never the token",
    {
      tokens: oneOf(
        text,
        Arbitrary.map(text, (t) =>
          JSON.stringify({ "": { token: `${t}\u0000secret`, expirationTimestamp: "2099-01-01T00:00:00Z" } }),
        ),
        Arbitrary.map(text, (expiry) =>
          JSON.stringify({ "": { token: "secret-token", expirationTimestamp: `${expiry}x` } }),
        ),
        Arbitrary.map(text, (audience) =>
          JSON.stringify({
            [`${audience}.aud`]: { token: "secret-token", expirationTimestamp: "2099-01-01T00:00:00Z" },
          }),
        ),
      ),
    },
    ({ tokens: raw }) =>
      Effect.gen(function* () {
        const request = requestOf({}, raw)
        const result = yield* answer(request, true)
        assertInvalidAndUntouched(result, request)
        assert.include(result.status.details, K.ServiceAccountTokensKey)
        assert.notInclude(result.status.details, "secret")
      }),
    { timeout: 60_000, arbitrary: { runs: 100 } },
  )

  it.live.prop(
    "a list of any number of bad entries names the first three and counts the rest within 2 KiB",
    { bad: Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 4, maximum: 20_000 }))) },
    ({ bad }) =>
      Effect.gen(function* () {
        const names = Array.from({ length: bad }, (_, i) => `bad_name!${i}`).join(",")
        const request = requestOf({ [K.DnsNamesKey]: names }, undefined)
        const result = yield* answer(request, false)
        assertInvalidAndUntouched(result, request)
        assert.include(
          result.status.details,
          `"bad_name!2" and ${formatCount(bad - 3)} more are not DNS names`,
        )
        assert.isAtMost(Buffer.byteLength(result.status.details), maxMessageBytes)
      }),
    { timeout: 60_000, arbitrary: { runs: 30 } },
  )
})

/**
 * Property tests over raw NodePublishVolume / NodeUnpublishVolume requests, as grpc-js
 * hands them to the handler: for any request the handler answers (never a defect); one
 * that breaks a rule of the fields checked at the boundary (by this file's own
 * statement of the rules) answers INVALID_ARGUMENT naming the field, in at most 2 KiB,
 * with nothing created or touched (the fakes record every call); a valid one succeeds.
 */
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Layer, Schema } from "effect"
import * as K from "../../src/attributes/keys.js"
import { volumePrograms } from "../../src/csi/node.js"
import { toStatus } from "../../src/csi/status.js"
import type { NodePublishVolumeRequest__Output } from "../../src/gen/csi/v1/NodePublishVolumeRequest.js"
import type { NodeUnpublishVolumeRequest__Output } from "../../src/gen/csi/v1/NodeUnpublishVolumeRequest.js"
import { FakeCertificateRequests } from "../../src/testing/fake-certificate-requests.js"
import { MemoryVolumeStore } from "../../src/testing/memory-store.js"
import { changingOperations, RecordingMounter } from "../../src/testing/recording-mounter.js"
import { Volumes } from "../../src/volume/volumes.js"
import { pod, publishRequest, testLayer } from "../volume/programs-support.js"

/** Deeper than the default, so targets above it other than / exist. */
const dataRoot = "/var/lib/csi-data"
const call = { method: "test", deadline: undefined }
const runs = { arbitrary: { runs: 300 } }

const pick = <const A extends ReadonlyArray<string>>(values: A) => Arbitrary.schema(Schema.Literals(values))
const intUpTo = (maximum: number) =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum })))
/** One of `arbitraries`, chosen at random. */
const oneOf = <A>(...arbitraries: ReadonlyArray<Arbitrary.Arbitrary<A>>): Arbitrary.Arbitrary<A> =>
  Arbitrary.flatMap(intUpTo(arbitraries.length - 1), (i) => arbitraries[i]!)
/** Kubelet's value three times in four, so a good share of requests is valid as a whole. */
const mostly = <A>(kubelets: Arbitrary.Arbitrary<A>, other: Arbitrary.Arbitrary<A>) =>
  Arbitrary.flatMap(intUpTo(3), (i) => (i < 3 ? kubelets : other))
const anyString = Arbitrary.schema(Schema.String)

const kubeletTarget = (uid: string, volume: string) =>
  `/var/lib/kubelet/pods/${uid}/volumes/kubernetes.io~csi/${volume}/mount`

/** Components that make paths interesting: kubelet's, empty, dots, too long, NUL, the data root's. */
const component = pick([
  "var",
  "lib",
  "kubelet",
  "pods",
  "volumes",
  "kubernetes.io~csi",
  "mount",
  "tls",
  "",
  ".",
  "..",
  "a b",
  "ü",
  "csi-data-dir",
  "x".repeat(255),
  "x".repeat(256),
  "a\0b",
])

/** Kubelet's own, for some pod and volume name. */
const kubeletTargetPath = Arbitrary.map(
  Arbitrary.all([pick(["u", "8d1e", "a-b"]), pick(["tls", "certs", "x y"])]),
  ([u, v]) => kubeletTarget(u, v),
)

/** Kubelet's target with one thing wrong, at a random place. */
const brokenKubeletPath = Arbitrary.map(
  Arbitrary.all([
    kubeletTargetPath,
    pick(["nul", ".", "..", "empty", "trailing", "relative", "long component"]),
    intUpTo(60),
  ]),
  ([target, flaw, at]) => {
    const parts = target.split("/")
    const i = 1 + (at % (parts.length - 1))
    if (flaw === "nul") return `${target.slice(0, at)}\0${target.slice(at)}`
    if (flaw === "trailing") return `${target}/`
    if (flaw === "relative") return target.slice(1 + (at % 5))
    if (flaw === "long component") parts[i] = "x".repeat(250 + (at % 10))
    else parts[i] = flaw === "empty" ? "" : flaw
    return parts.join("/")
  },
)

/** The data root, paths inside it, its ancestors, and their neighbours. */
const nearDataRoot = Arbitrary.map(
  Arbitrary.all([
    pick(["/var/lib/csi-data", "/var/lib", "/var", "/"]),
    pick(["", "/csi-x", "/csi-x/data", "-2", "2/x"]),
  ]),
  ([base, rest]) => `${base}${rest}`.replace(/^\/\//, "/"),
)

const targetPath = oneOf(
  kubeletTargetPath,
  brokenKubeletPath,
  nearDataRoot,
  // built from components, absolute or not, with or without a trailing slash
  Arbitrary.map(
    Arbitrary.all([pick(["/", ""]), Arbitrary.array(component, { maxLength: 8 }), pick(["", "/"])]),
    ([lead, parts, trail]) => `${lead}${parts.join("/")}${trail}`,
  ),
  // long: about 2 to 10 KB, the limit at 2045 repeats
  Arbitrary.map(intUpTo(5000), (n) => `/${"a/".repeat(n)}mount`),
  anyString,
)

const volumeId = mostly(
  pick(["csi-0123abcd", "csi-ffff"]),
  oneOf(pick(["", ".", "..", "../x", "a/b", "x".repeat(200), "x".repeat(201)]), anyString),
)

const accessMode = pick([
  "SINGLE_NODE_WRITER",
  "SINGLE_NODE_READER_ONLY",
  "MULTI_NODE_READER_ONLY",
  "MULTI_NODE_SINGLE_WRITER",
  "MULTI_NODE_MULTI_WRITER",
  "SINGLE_NODE_SINGLE_WRITER",
  "SINGLE_NODE_MULTI_WRITER",
  "UNKNOWN",
])

type Capability = NodePublishVolumeRequest__Output["volume_capability"]

const capability: Arbitrary.Arbitrary<Capability> = Arbitrary.map(
  Arbitrary.all([
    mostly(pick(["mount"]), pick(["block", "none", "null"])),
    mostly(pick(["SINGLE_NODE_WRITER"]), accessMode),
    pick(["", "2000"]),
  ]),
  ([type, mode, group]): Capability => {
    const access_mode = mode === "UNKNOWN" ? null : { mode }
    if (type === "null") return null
    if (type === "block") return { block: {}, access_mode, access_type: "block" }
    if (type === "none") return { access_mode }
    return {
      mount: { fs_type: "", mount_flags: [], volume_mount_group: group },
      access_mode,
      access_type: "mount",
    }
  },
)

const podKeys = [K.PodNameKey, K.PodNamespaceKey, K.PodUidKey, K.ServiceAccountNameKey] as const

/** A pod key's value as no kubelet sends it: upper case, a slash, NUL, too long, or anything. */
const hostilePodValue = oneOf(
  pick(["Upper", "a/b", "a\0b", "-lead", "trail.", "a..b", "x".repeat(300)]),
  anyString,
)

const volumeContext = Arbitrary.map(
  Arbitrary.all([
    mostly(pick([""]), pick(podKeys)),
    mostly(pick(["true"]), pick(["false", ""])),
    mostly(pick([""]), pick(podKeys)),
    hostilePodValue,
  ]),
  ([drop, ephemeral, spoil, hostile]) => {
    const { attributes } = publishRequest("csi-any")
    const context: Record<string, string> = { ...attributes, [K.EphemeralKey]: ephemeral }
    if (spoil !== "") context[spoil] = hostile
    if (drop !== "") delete context[drop]
    return context
  },
)

const publishArbitrary: Arbitrary.Arbitrary<NodePublishVolumeRequest__Output> = Arbitrary.map(
  Arbitrary.all({
    volume_id: volumeId,
    target_path: oneOf(kubeletTargetPath, targetPath),
    volume_capability: capability,
    readonly: mostly(pick(["true"]), pick(["false"])),
    volume_context: volumeContext,
  }),
  (r) => ({
    ...r,
    readonly: r.readonly === "true",
    publish_context: {},
    staging_target_path: "",
    secrets: {},
  }),
)

const unpublishArbitrary: Arbitrary.Arbitrary<NodeUnpublishVolumeRequest__Output> = Arbitrary.all({
  volume_id: volumeId,
  target_path: oneOf(kubeletTargetPath, targetPath),
})

// The rules, stated again independently of src/csi: the field each broken rule is about.

const bytes = (text: string) => Buffer.byteLength(text)

const volumeIdBroken = (id: string) => !/^[A-Za-z0-9._-]{1,200}$/.test(id) || id === "." || id === ".."

const targetBroken = (t: string) => {
  const clean =
    t.startsWith("/") &&
    !t.includes("\0") &&
    path.posix.normalize(t) === t &&
    !t.endsWith("/") &&
    bytes(t) <= 4096 &&
    t.split("/").every((c) => bytes(c) <= 255)
  const overlaps = t === "/" || t === dataRoot || t.startsWith(`${dataRoot}/`) || dataRoot.startsWith(`${t}/`)
  return !clean || overlaps
}

const label = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
const podValueRules: Record<(typeof podKeys)[number], RegExp> = {
  [K.PodNameKey]: new RegExp(`^(?=.{1,253}$)${label}(\\.${label})*$`),
  [K.PodNamespaceKey]: new RegExp(`^(?=.{1,63}$)${label}$`),
  [K.PodUidKey]: /^[A-Za-z0-9._-]{1,128}$/,
  [K.ServiceAccountNameKey]: new RegExp(`^(?=.{1,253}$)${label}(\\.${label})*$`),
}
const podValueBroken = (key: (typeof podKeys)[number], value: string | undefined) =>
  value === undefined || !podValueRules[key].test(value)

/** Each broken rule as a word the message must contain. */
const brokenFields = (r: NodePublishVolumeRequest__Output): ReadonlyArray<string> => {
  const fields: Array<string> = []
  if (volumeIdBroken(r.volume_id)) fields.push("volume_id")
  if (targetBroken(r.target_path)) fields.push("target_path")
  const c = r.volume_capability
  const modeOk =
    c?.access_mode?.mode === "SINGLE_NODE_WRITER" || c?.access_mode?.mode === "SINGLE_NODE_READER_ONLY"
  if (c === null || c.access_type !== "mount" || !modeOk) fields.push("volume_capability")
  if (!r.readonly && c !== null) fields.push("readonly")
  if (r.volume_context[K.EphemeralKey] !== "true") fields.push(K.EphemeralKey)
  for (const key of podKeys) if (podValueBroken(key, r.volume_context[key])) fields.push(key)
  return fields
}

/** The answer as kubelet would get it: code and message. */
const answer = <A, E>(effect: Effect.Effect<A, E>) => Effect.map(Effect.exit(effect), toStatus)

/** What the fakes say was created or changed. */
const footprint = Effect.gen(function* () {
  const mounter = yield* RecordingMounter
  return {
    volumes: yield* (yield* MemoryVolumeStore).volumeIds,
    submitted: (yield* (yield* FakeCertificateRequests).submitted).length,
    removed: (yield* (yield* FakeCertificateRequests).removed).length,
    mountChanges: (yield* mounter.calls).filter((c) => changingOperations.has(c.operation)),
  }
})

const withDriver = <A, E>(effect: Effect.Effect<A, E, Layer.Success<ReturnType<typeof layer>>>) =>
  Effect.provide(effect, layer())
const layer = () => Volumes.layer.pipe(Layer.provideMerge(testLayer({ config: { dataRoot } })))

const assertInvalid = (status: ReturnType<typeof toStatus>, fields: ReadonlyArray<string>) => {
  assert.strictEqual(status.name, "INVALID_ARGUMENT", status.details)
  assert.isTrue(
    fields.some((field) => status.details.includes(field)),
    `"${status.details.slice(0, 300)}" names none of ${fields.join(", ")}`,
  )
  assert.isAtMost(bytes(status.details), 2048)
}

/** How many generated requests were valid, so a run that never tried one fails. */
const valid = { publish: 0, unpublish: 0 }

describe("NodePublishVolume over raw requests", () => {
  it.effect.prop(
    "answers every request; an invalid one with INVALID_ARGUMENT naming a field, creating nothing",
    [publishArbitrary],
    ([request]) =>
      withDriver(
        Effect.gen(function* () {
          const programs = volumePrograms(dataRoot, yield* Volumes)
          const status = yield* answer(programs.publish(request, call))
          assert.isFalse(status.defect, status.details)
          const fields = brokenFields(request)
          if (fields.length === 0) {
            valid.publish++
            assert.strictEqual(status.name, "OK", status.details)
            return
          }
          assertInvalid(status, fields)
          assert.deepStrictEqual(yield* footprint, {
            volumes: [],
            submitted: 0,
            removed: 0,
            mountChanges: [],
          })
        }),
      ),
    runs,
  )
})

describe("NodeUnpublishVolume over raw requests", () => {
  it.effect.prop(
    "answers every request; an invalid one with INVALID_ARGUMENT naming a field, touching nothing",
    [unpublishArbitrary],
    ([request]) =>
      withDriver(
        Effect.gen(function* () {
          const programs = volumePrograms(dataRoot, yield* Volumes)
          // Another pod's volume, which no unpublish of a different volume may touch.
          const other = publishRequest("csi-other", { targetPath: kubeletTarget(pod.uid, "other") })
          yield* (yield* Volumes).publish(other)
          const before = yield* footprint
          const status = yield* answer(programs.unpublish(request, call))
          assert.isFalse(status.defect, status.details)
          const fields = [
            ...(volumeIdBroken(request.volume_id) ? ["volume_id"] : []),
            ...(targetBroken(request.target_path) ? ["target_path"] : []),
          ]
          const after = yield* footprint
          if (fields.length === 0) {
            valid.unpublish++
            assert.strictEqual(status.name, "OK", status.details)
          } else {
            assertInvalid(status, fields)
            assert.deepStrictEqual(after, before)
          }
          if (request.volume_id !== other.volumeId) {
            assert.deepStrictEqual(after.volumes, before.volumes)
            assert.isTrue((yield* (yield* RecordingMounter).mounts).has(other.targetPath))
          }
        }),
      ),
    runs,
  )
})

describe("the generators", () => {
  it("made valid requests as well as invalid ones", () => {
    assert.isAbove(valid.publish, 10)
    assert.isAbove(valid.unpublish, 10)
  })
})

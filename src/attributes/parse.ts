/**
 * Decodes kubelet's `volume_context` for one ephemeral volume into the
 * `CertificateSpec` to request: sorts the keys, decodes every attribute with the
 * attribute Schema, applies the rules that span attributes and the defaults, and
 * reports every problem of the request at once in one `InvalidAttributes`.
 */
import { hash } from "node:crypto"
import { Effect, Result, Schema, SchemaIssue } from "effect"
import { formatCount, Sample } from "../bounded.js"
import { RecentlyDecoded } from "../recently-decoded.js"
import { type AttributeProblem, InvalidAttributes } from "./errors.js"
import { variablesOf } from "./expand.js"
import * as K from "./keys.js"
import { makeQuote } from "./quote.js"
import * as Rules from "./rules.js"
import { type Attributes, type AttributesSchema, expandVariables, makeAttributesSchema } from "./schema.js"
import type { CertificateSpec, PodInfo } from "./spec.js"
import { classifyKey, kindOfKey } from "./suggest.js"

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

// Unknown keys first (a typo often explains the problems after it), then attribute order.
const rank = (attribute: string): number => {
  const index = (K.AttributeKeys as ReadonlyArray<string>).indexOf(attribute)
  if (index >= 0) return 1 + index
  if (attribute === K.VolumeMountGroupField) return 1 + K.AttributeKeys.length
  if (attribute === K.RequestField) return 2 + K.AttributeKeys.length
  return 0
}

const ordered = (problems: ReadonlyArray<AttributeProblem>): ReadonlyArray<AttributeProblem> => {
  const seen = new Set<string>()
  return problems
    .filter((p) => {
      const key = `${p.attribute}\u0000${p.message}`
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
    .sort((a, b) => rank(a.attribute) - rank(b.attribute))
}

/** The API server's limit on an object's annotations, keys and values together. */
const maxAnnotationBytes = 256 * 1024

/** Unknown keys described in full; the rest of thousands are only counted. */
const unknownKeysKept = 8

type FieldDecoder = (value: string) => Result.Result<unknown, ReadonlyArray<AttributeProblem>>

/**
 * A decoder of one attribute, by a Struct of that field alone: the fields are
 * independent (each its own transformation of its own string), so the field decodes
 * to the value and issues it does in the whole Struct, and an attribute costs only
 * its own decoding rather than a pass over every field of the Struct.
 */
const fieldDecoder = (schema: AttributesSchema, key: K.AttributeKey): FieldDecoder => {
  const decode = Schema.decodeUnknownResult(Schema.Struct({ [key]: schema.fields[key] }))
  return (value) => {
    const result = decode({ [key]: value }, { errors: "all" })
    if (Result.isSuccess(result)) return Result.succeed((result.success as Record<string, unknown>)[key])
    return Result.fail(
      formatIssues(result.failure.issue).issues.map((issue) => ({
        attribute: String(issue.path?.[0] ?? K.RequestField),
        message: issue.message,
      })),
    )
  }
}

/** Makes each field's decoder on first use. */
const fieldDecoders = (schema: AttributesSchema) => {
  const decoders = new Map<K.AttributeKey, FieldDecoder>()
  return (key: K.AttributeKey): FieldDecoder => {
    const known = decoders.get(key)
    if (known !== undefined) return known
    const made = fieldDecoder(schema, key)
    decoders.set(key, made)
    return made
  }
}

/**
 * Values of the shared Schema that decoded lately, by attribute and value: a workload's
 * pods give the same text for every attribute that uses no `${POD_*}` variable, and
 * decoding is a pure function of the two, so only the expanded ones are decoded per pod.
 * Only such literal values that decoded are kept (bad input neither grows nor churns
 * this; per-pod values would only churn it), bounded by count and by bytes, a long
 * value not at all.
 */
const recentValues = new RecentlyDecoded<unknown>({ entries: 512, bytes: 512 * 1024, entryBytes: 4 * 1024 })
export const recentValuesLimits = recentValues.limits

/** What the remembered values hold now, for tests. */
export const recentValuesSize = () => recentValues.size

/**
 * Decodes the given attributes, leaving out the invalid ones: returns what decoded,
 * the problems found and the keys they are about.
 */
const decodeEach = (
  decoderOf: (key: K.AttributeKey) => FieldDecoder,
  values: Readonly<Partial<Record<K.AttributeKey, string>>>,
  /** The values as given, when the Schema is the shared one: those not expanded may be remembered. */
  given: Readonly<Partial<Record<K.AttributeKey, string>>> | undefined,
): { attributes: Attributes; problems: Array<AttributeProblem>; failed: Set<K.AttributeKey> } => {
  const problems: Array<AttributeProblem> = []
  const failed = new Set<K.AttributeKey>()
  const attributes: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(values)) {
    const key = name as K.AttributeKey
    if (value === undefined) continue
    // Not expanded: the same text for every pod of the volume's workload.
    const id = given?.[key] === value ? `${key}\u0000${value}` : undefined
    const recent = id === undefined ? undefined : recentValues.get(id)
    if (recent !== undefined) {
      attributes[key] = recent.value
      continue
    }
    const decoded = decoderOf(key)(value)
    if (Result.isSuccess(decoded)) {
      attributes[key] = decoded.success
      if (id !== undefined) recentValues.set(id, decoded.success, 2 * id.length)
    } else {
      problems.push(...decoded.failure)
      for (const problem of decoded.failure) {
        if (K.isAttributeKey(problem.attribute)) failed.add(problem.attribute)
      }
    }
  }
  // Each value is its field's decoding by the Schema itself.
  return { attributes: attributes as Attributes, problems, failed }
}

/** The Schema of every volume without a pkcs12-password (whose messages must hide it). */
const sharedSchema = makeAttributesSchema(makeQuote(undefined))
const sharedDecoders = fieldDecoders(sharedSchema)

/**
 * Specs decoded lately, by a hash of their inputs: a volume's first issuance decodes
 * the same attributes its publish just did (from the stored metadata), and decoding
 * is a pure function of the inputs. Bounded by count (one node's worth of volumes
 * published at once) and by bytes (the inputs' size stands for the spec's), and a
 * spec from huge inputs is not kept at all: only valid input is remembered, but
 * valid input can be large. The issuance's decode takes its entry out (`lastUse`):
 * kept until 256 later publishes pushed it out, every spec outlived young collections
 * and was promoted, only to die in the old generation (~1 KiB a publish).
 */
const recentSpecs = new RecentlyDecoded<CertificateSpec>({
  entries: 256,
  bytes: 4 * 2 ** 20,
  entryBytes: 64 * 1024,
})
export const recentSpecsLimits = recentSpecs.limits

/** What the remembered specs hold now, for tests. */
export const recentSpecsSize = () => recentSpecs.size

/** `parseAttributes` as a plain function, for callers outside Effect. */
export const decodeAttributes = (
  context: Readonly<Record<string, string>>,
  pod: PodInfo,
  volumeMountGroup?: string,
  /** The last decode expected of these inputs for a while: takes out what it finds, remembers nothing. */
  lastUse = false,
): Result.Result<CertificateSpec, InvalidAttributes> => {
  // Inputs too large to be kept are not worth a key (a copy and a hash of all of them).
  let size = 0
  for (const name in context) size += name.length + (context[name]?.length ?? 0)
  if (size > recentSpecsLimits.entryBytes) return decodeFresh(context, pod, volumeMountGroup)
  const inputs = JSON.stringify([context, pod, volumeMountGroup ?? null])
  // The one-shot hash: a Hash object costs more than hashing these few hundred bytes.
  const key = hash("sha256", inputs, "base64")
  const recent = lastUse ? recentSpecs.take(key) : recentSpecs.get(key)
  if (recent !== undefined) return Result.succeed(recent.value)
  const decoded = decodeFresh(context, pod, volumeMountGroup)
  if (Result.isSuccess(decoded) && !lastUse) recentSpecs.set(key, decoded.success, inputs.length)
  return decoded
}

const decodeFresh = (
  context: Readonly<Record<string, string>>,
  pod: PodInfo,
  volumeMountGroup: string | undefined,
): Result.Result<CertificateSpec, InvalidAttributes> => {
  const problems: Array<AttributeProblem> = []
  const raw: Partial<Record<K.AttributeKey, string>> = {}
  const annotations: Record<string, string> = {}
  const unknown = new Sample<string>(unknownKeysKept)
  let annotationBytes = 0
  for (const [key, value] of Object.entries(context)) {
    switch (kindOfKey(key)) {
      case "Attribute":
        // As upstream does, an empty value means the attribute is not set.
        if (value !== "") raw[key as K.AttributeKey] = value
        break
      case "Annotation":
        annotations[key] = value
        annotationBytes += Buffer.byteLength(key) + Buffer.byteLength(value)
        break
      case "Unknown":
        unknown.add(key)
        break
      case "Kubelet":
        break
    }
  }
  if (annotationBytes > maxAnnotationBytes) {
    problems.push({
      attribute: K.RequestField,
      message: `the keys of other groups, copied as annotations, come to ${formatCount(annotationBytes)} bytes; the API server takes at most ${formatCount(maxAnnotationBytes)}`,
    })
  }
  for (const key of unknown.items) {
    const kind = classifyKey(key)
    if (kind._tag === "Unknown") problems.push({ attribute: key, message: kind.message })
  }
  const more = unknown.total - unknown.items.length
  const password = raw[K.Pkcs12PasswordKey]
  const quote = makeQuote(password)
  const expansion = expandVariables(raw, variablesOf(pod), quote)
  const shared = password === undefined
  const decoders = shared ? sharedDecoders : fieldDecoders(makeAttributesSchema(quote))
  const decoded = decodeEach(decoders, expansion.values, shared ? raw : undefined)
  problems.push(...expansion.problems, ...decoded.problems)
  const failed = new Set([...expansion.failed, ...decoded.failed])

  const input: Rules.RuleInput = { attributes: decoded.attributes, raw, failed, quote }
  const resolved = {
    issuerRef: Rules.issuerRef(input),
    subject: Rules.subject(input),
    identity: Rules.identity(input),
    key: Rules.key(input),
    lifetime: Rules.lifetime(input),
    pkcs12: Rules.pkcs12(input),
    files: Rules.files(input),
    fsGroup: Rules.fsGroup(input, volumeMountGroup),
  }
  const outcomes: ReadonlyArray<Rules.Resolved<unknown>> = Object.values(resolved)
  for (const outcome of outcomes) {
    if (Result.isFailure(outcome)) problems.push(...outcome.failure)
  }
  const invalid = () => new InvalidAttributes({ problems: ordered(problems), ...(more > 0 ? { more } : {}) })
  if (problems.length > 0) return Result.fail(invalid())

  const a = decoded.attributes
  return Result.mapBoth(Result.all(resolved), {
    onFailure: invalid,
    onSuccess: (r): CertificateSpec => ({
      issuerRef: r.issuerRef,
      ...(r.subject.literalSubject === undefined ? {} : { literalSubject: r.subject.literalSubject }),
      subject: r.subject.subject,
      dnsNames: a[K.DnsNamesKey] ?? [],
      ipAddresses: a[K.IpSansKey] ?? [],
      uris: a[K.UriSansKey] ?? [],
      duration: r.lifetime.duration,
      isCA: a[K.IsCaKey] ?? false,
      usages: a[K.KeyUsagesKey] ?? Rules.Defaults.usages,
      key: r.key,
      files: r.files,
      ...(r.fsGroup === undefined ? {} : { fsGroup: r.fsGroup }),
      ...(r.lifetime.renewBefore === undefined ? {} : { renewBefore: r.lifetime.renewBefore }),
      reusePrivateKey: a[K.ReusePrivateKeyKey] ?? false,
      ...(r.pkcs12 === undefined ? {} : { pkcs12: r.pkcs12 }),
      annotations,
    }),
  })
}

/**
 * Decodes a volume's `volume_context` (attributes plus kubelet's keys) for the pod
 * mounting it. `volumeMountGroup` is kubelet's `volume_mount_group` (the pod's
 * fsGroup), used when `fs-group` is not set.
 */
export const parseAttributes: (
  context: Readonly<Record<string, string>>,
  pod: PodInfo,
  volumeMountGroup?: string,
  lastUse?: boolean,
) => Effect.Effect<CertificateSpec, InvalidAttributes> = Effect.fnUntraced(function* (
  context: Readonly<Record<string, string>>,
  pod: PodInfo,
  volumeMountGroup?: string,
  lastUse?: boolean,
) {
  return yield* Result.match(decodeAttributes(context, pod, volumeMountGroup, lastUse), {
    onSuccess: (spec) => Effect.succeed(spec),
    onFailure: (error) => Effect.fail(error),
  })
})

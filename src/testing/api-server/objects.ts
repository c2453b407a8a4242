/**
 * The shape of stored Kubernetes objects (plain JSON with a typed `metadata`), the
 * decoding of untrusted request bodies into it, and small JSON helpers (deep equality,
 * cloning, field paths) shared by the store, the REST handlers and the issuer.
 */
import { Predicate, Result, Schema } from "effect"
import { type ApiError, badRequest } from "./status.js"

export interface OwnerReference {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly uid: string
  readonly controller?: boolean
  readonly blockOwnerDeletion?: boolean
}

export interface ObjectMeta {
  readonly name?: string | undefined
  readonly generateName?: string | undefined
  readonly namespace?: string | undefined
  readonly uid?: string | undefined
  readonly resourceVersion?: string | undefined
  readonly generation?: number | undefined
  readonly creationTimestamp?: string | undefined
  readonly deletionTimestamp?: string | undefined
  readonly deletionGracePeriodSeconds?: number | undefined
  readonly labels?: Readonly<Record<string, string>> | undefined
  readonly annotations?: Readonly<Record<string, string>> | undefined
  readonly ownerReferences?: ReadonlyArray<OwnerReference> | undefined
  readonly finalizers?: ReadonlyArray<string> | undefined
  readonly [key: string]: unknown
}

/** Any Kubernetes object: apiVersion, kind, metadata, and whatever else its kind carries. */
export interface KubeObject {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: ObjectMeta
  readonly [key: string]: unknown
}

export type JsonObject = { [key: string]: unknown }

export const isJsonObject = (u: unknown): u is JsonObject => Predicate.isObject(u)

const OwnerReferenceSchema = Schema.Struct({
  apiVersion: Schema.String,
  kind: Schema.String,
  name: Schema.String,
  uid: Schema.String,
  controller: Schema.optionalKey(Schema.Boolean),
  blockOwnerDeletion: Schema.optionalKey(Schema.Boolean),
})

const StringMap = Schema.Record(Schema.String, Schema.String)

// Only the fields the server reads are checked; anything else in metadata is kept as sent.
const MetadataSchema = Schema.StructWithRest(
  Schema.Struct({
    name: Schema.optionalKey(Schema.String),
    generateName: Schema.optionalKey(Schema.String),
    namespace: Schema.optionalKey(Schema.String),
    uid: Schema.optionalKey(Schema.String),
    resourceVersion: Schema.optionalKey(Schema.String),
    labels: Schema.optionalKey(Schema.NullOr(StringMap)),
    annotations: Schema.optionalKey(Schema.NullOr(StringMap)),
    ownerReferences: Schema.optionalKey(Schema.NullOr(Schema.Array(OwnerReferenceSchema))),
    finalizers: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.String))),
  }),
  [Schema.Record(Schema.String, Schema.Unknown)],
)

const decodeMetadata = Schema.decodeUnknownResult(MetadataSchema)

/** Parses a request body as JSON; a syntax error is a 400 like the apiserver's decoder gives. */
export const parseJson = (body: string): Result.Result<unknown, ApiError> =>
  Result.try({
    try: (): unknown => JSON.parse(body),
    catch: (e) => badRequest(`json parse error: ${e instanceof Error ? e.message : String(e)}`),
  })

/**
 * Checks that `u` is an object of the expected kind with a well-formed `metadata`, and
 * returns a private deep copy (nulls in metadata maps dropped, as Go's decoder does).
 */
export const decodeObject = (
  u: unknown,
  expected: { readonly apiVersion: string; readonly kind: string; readonly group: string },
): Result.Result<KubeObject, ApiError> => {
  if (!isJsonObject(u)) return Result.fail(badRequest("the request body must be a JSON object"))
  // built-in kinds take a missing apiVersion/kind from the URL; custom resources must carry them
  const builtIn = expected.group === ""
  const kind = builtIn && (u.kind === undefined || u.kind === "") ? expected.kind : u.kind
  const apiVersion =
    builtIn && (u.apiVersion === undefined || u.apiVersion === "") ? expected.apiVersion : u.apiVersion
  if (kind === undefined || kind === "") {
    return Result.fail(badRequest(`Object 'Kind' is missing in '${truncate(JSON.stringify(u))}'`))
  }
  if (kind !== expected.kind) {
    return Result.fail(
      badRequest(
        `the kind in the data (${String(kind)}) does not match the expected kind (${expected.kind})`,
      ),
    )
  }
  if (apiVersion !== expected.apiVersion) {
    return Result.fail(
      badRequest(
        `the API version in the data (${String(apiVersion)}) does not match the expected API version (${expected.apiVersion})`,
      ),
    )
  }
  const metadata = decodeMetadata(u.metadata ?? {})
  if (Result.isFailure(metadata)) {
    return Result.fail(badRequest(`metadata: ${metadata.failure.message}`))
  }
  const copy = structuredClone(u)
  const meta: JsonObject = structuredClone({ ...metadata.success })
  for (const key of ["labels", "annotations", "ownerReferences", "finalizers"]) {
    if (meta[key] === null) delete meta[key]
  }
  return Result.succeed({ ...copy, apiVersion: expected.apiVersion, kind: expected.kind, metadata: meta })
}

const truncate = (s: string): string => (s.length > 200 ? `${s.slice(0, 200)}...` : s)

/** Structural equality of JSON values (key order ignored). */
export const jsonEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]))
  }
  if (isJsonObject(a) && isJsonObject(b) && !Array.isArray(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined)
    const kb = Object.keys(b).filter((k) => b[k] !== undefined)
    return ka.length === kb.length && ka.every((k) => jsonEqual(a[k], b[k]))
  }
  return false
}

/** Reads a dotted path (`spec.issuerRef.name`) from an object; undefined when any step is missing. */
export const getPath = (obj: unknown, path: string): unknown => {
  let cur: unknown = obj
  for (const step of path.split(".")) {
    if (!isJsonObject(cur)) return undefined
    cur = cur[step]
  }
  return cur
}

export const withMeta = (obj: KubeObject, meta: Partial<ObjectMeta>): KubeObject => ({
  ...obj,
  metadata: { ...obj.metadata, ...meta },
})

/** Drops keys whose value is `undefined`, so stored objects serialise exactly as they compare. */
export const compact = <A extends JsonObject>(obj: A): A => {
  const out: JsonObject = {}
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v
  return out as A
}

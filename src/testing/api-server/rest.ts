/**
 * The REST verbs on stored resources — create, get, list, update, patch, delete, on the
 * main resource and on `/status` — with the apiserver's semantics: generateName,
 * system metadata, resourceVersion preconditions, selectors, limit/continue, what DELETE
 * answers. Each verb is an Effect over the ObjectStore; failures are `ApiError` Statuses.
 */
import { randomUUID } from "node:crypto"
import { Clock, Effect, Random, Result } from "effect"
import { decodeObject, isJsonObject, type KubeObject, parseJson } from "./objects.js"
import { applyPatch, patchTypeOf } from "./patch.js"
import { fieldValue, Namespaces, type ResourceDef, type StoredResource } from "./resources.js"
import {
  type FieldSelector,
  type LabelSelector,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
} from "./selectors.js"
import { type ApiError, badRequest, conflict, invalid, modifiedConflict, success } from "./status.js"
import type { ObjectStore } from "./store.js"
import { prepareForCreate, prepareForStatusUpdate, prepareForUpdate, validateMeta } from "./strategies.js"
import { stableUid, type UserInfo } from "./users.js"

export interface RestRequest {
  readonly def: ResourceDef
  /** Undefined for a cluster-wide list or watch. */
  readonly namespace: string | undefined
  readonly name: string | undefined
  readonly subresource: "status" | undefined
  readonly user: UserInfo
  readonly query: URLSearchParams
  readonly body: string
  readonly contentType: string | undefined
}

export interface RestResponse {
  readonly status: number
  readonly body: unknown
}

/** RFC 3339 with whole seconds, as metav1.Time serialises. */
export const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")

export const now: Effect.Effect<string> = Effect.map(Clock.currentTimeMillis, rfc3339)

const stored = (def: ResourceDef): StoredResource => def.resource as StoredResource

const nameAlphabet = "bcdfghjklmnpqrstvwxz2456789"
// five characters from the apiserver's alphabet (no vowels, no 0/1/3), as `generateName` gets
const randomSuffix = Effect.map(
  Effect.all(Array.from({ length: 5 }, () => Random.nextIntBetween(0, nameAlphabet.length - 1))),
  (indexes) => indexes.map((i) => nameAlphabet[i]).join(""),
)

const ok = (body: unknown): RestResponse => ({ status: 200, body })

export interface Selectors {
  readonly labels: LabelSelector
  readonly fields: FieldSelector
}

/** Reads `labelSelector` / `fieldSelector`, refusing fields the resource cannot select on. */
export const selectorsOf = (def: ResourceDef, query: URLSearchParams): Result.Result<Selectors, ApiError> =>
  Result.flatMap(parseLabelSelector(query.get("labelSelector") ?? ""), (labels) =>
    Result.flatMap(parseFieldSelector(query.get("fieldSelector") ?? ""), (fields) => {
      const unsupported = fields.find((f) => !def.selectableFields.includes(f.field))
      return unsupported === undefined
        ? Result.succeed({ labels, fields })
        : Result.fail(badRequest(`field label not supported: ${unsupported.field}`))
    }),
  )

export const selects = (def: ResourceDef, selectors: Selectors, obj: KubeObject): boolean =>
  matchesLabels(selectors.labels, obj.metadata.labels) &&
  matchesFields(selectors.fields, (f) => fieldValue(def, obj, f))

/** Core lists carry items without apiVersion/kind; custom resource lists keep them. */
const listItem = (def: ResourceDef, obj: KubeObject): unknown => {
  if (def.group !== "") return obj
  const { apiVersion: _a, kind: _k, ...rest } = obj
  return rest
}

const decodeBody = (req: RestRequest): Result.Result<KubeObject, ApiError> =>
  Result.flatMap(parseJson(req.body), (u) => decodeObject(u, req.def))

const checkNamespace = (req: RestRequest, obj: KubeObject): Result.Result<KubeObject, ApiError> => {
  const ns = obj.metadata.namespace
  if (!req.def.namespaced) return Result.succeed(obj)
  if (ns !== undefined && ns !== "" && ns !== req.namespace) {
    return Result.fail(
      badRequest("the namespace of the provided object does not match the namespace sent on the request"),
    )
  }
  return Result.succeed({ ...obj, metadata: { ...obj.metadata, namespace: req.namespace } })
}

const checkName = (req: RestRequest, obj: KubeObject): Result.Result<KubeObject, ApiError> =>
  obj.metadata.name !== undefined && obj.metadata.name !== "" && obj.metadata.name !== req.name
    ? Result.fail(
        badRequest(
          `the name of the object (${obj.metadata.name}) does not match the name on the URL (${req.name})`,
        ),
      )
    : Result.succeed({ ...obj, metadata: { ...obj.metadata, name: req.name } })

export const create = Effect.fnUntraced(function* (store: ObjectStore["Service"], req: RestRequest) {
  const body = yield* Effect.fromResult(Result.flatMap(decodeBody(req), (o) => checkNamespace(req, o)))
  let name = body.metadata.name ?? ""
  if (name === "") {
    const prefix = body.metadata.generateName ?? ""
    if (prefix === "") {
      return yield* invalid(req.def, "", [
        {
          reason: "FieldValueRequired",
          field: "metadata.name",
          message: "Required value: name or generateName is required",
        },
      ])
    }
    name = `${prefix}${yield* randomSuffix}`
  }
  const timestamp = yield* now
  const {
    resourceVersion: _rv,
    deletionTimestamp: _dt,
    deletionGracePeriodSeconds: _dg,
    selfLink: _sl,
    managedFields: _mf,
    ...meta
  } = body.metadata
  const fresh: KubeObject = {
    ...body,
    metadata: {
      ...meta,
      name,
      uid: randomUUID(),
      creationTimestamp: timestamp,
      ...(req.def.generation ? { generation: 1 } : {}),
    },
  }
  const prepared = yield* Effect.fromResult(
    Result.flatMap(validateMeta(req.def, fresh), (o) => prepareForCreate(req.def, o, req.user)),
  )
  const created = yield* store.create(stored(req.def), prepared, req.user)
  return { status: 201, body: created } satisfies RestResponse
})

export const get = Effect.fnUntraced(function* (store: ObjectStore["Service"], req: RestRequest) {
  return ok(yield* store.get(stored(req.def), req.namespace ?? "", req.name ?? ""))
})

interface ContinueToken {
  readonly rv: number
  readonly start: string
}

const decodeContinue = (token: string): Result.Result<ContinueToken, ApiError> => {
  const bad = badRequest("continue key is not valid: illegal base64 data")
  const parsed = Result.flatMap(
    Result.try({ try: () => Buffer.from(token, "base64url").toString("utf8"), catch: () => bad }),
    (text) => Result.mapError(parseJson(text), () => bad),
  )
  return Result.flatMap(parsed, (u) =>
    isJsonObject(u) && typeof u.rv === "number" && typeof u.start === "string"
      ? Result.succeed({ rv: u.rv, start: u.start })
      : Result.fail(bad),
  )
}

const encodeContinue = (t: ContinueToken): string => Buffer.from(JSON.stringify(t)).toString("base64url")

/** A page of a list; `limit`/`continue` page over the current contents in key order. */
export const list = Effect.fnUntraced(function* (store: ObjectStore["Service"], req: RestRequest) {
  const selectors = yield* Effect.fromResult(selectorsOf(req.def, req.query))
  const limit = Number(req.query.get("limit") ?? "0")
  const cont = req.query.get("continue") ?? ""
  const from = cont === "" ? undefined : yield* Effect.fromResult(decodeContinue(cont))
  const { items, resourceVersion } = yield* store.list(stored(req.def), req.namespace)
  const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`
  const matching = items.filter(
    (o) => selects(req.def, selectors, o) && (from === undefined || keyOf(o) > from.start),
  )
  const page = Number.isInteger(limit) && limit > 0 ? matching.slice(0, limit) : matching
  const more = page.length < matching.length
  const selecting = selectors.labels.length > 0 || selectors.fields.length > 0
  return ok({
    apiVersion: req.def.apiVersion,
    kind: req.def.listKind,
    metadata: {
      resourceVersion: String(from?.rv ?? resourceVersion),
      ...(more
        ? {
            continue: encodeContinue({
              rv: from?.rv ?? resourceVersion,
              start: keyOf(page[page.length - 1]!),
            }),
          }
        : {}),
      ...(more && !selecting ? { remainingItemCount: matching.length - page.length } : {}),
    },
    items: page.map((o) => listItem(req.def, o)),
  })
})

const preconditionRv = (
  req: RestRequest,
  next: KubeObject,
  current: KubeObject,
): Result.Result<void, ApiError> => {
  const rv = next.metadata.resourceVersion
  if (rv !== undefined && rv !== "" && rv !== current.metadata.resourceVersion) {
    return Result.fail(modifiedConflict(req.def, req.name ?? ""))
  }
  return Result.void
}

const applyStrategy = (
  req: RestRequest,
  next: KubeObject,
  current: KubeObject,
): Result.Result<KubeObject, ApiError> =>
  Result.flatMap(preconditionRv(req, next, current), () => {
    if (
      next.metadata.uid !== undefined &&
      next.metadata.uid !== "" &&
      next.metadata.uid !== current.metadata.uid
    ) {
      return Result.fail(
        invalid(req.def, req.name ?? "", [
          {
            reason: "FieldValueInvalid",
            field: "metadata.uid",
            message: `Invalid value: "${next.metadata.uid}": field is immutable`,
          },
        ]),
      )
    }
    const prepared =
      req.subresource === "status"
        ? prepareForStatusUpdate(req.def, next, current)
        : prepareForUpdate(req.def, next, current)
    return Result.flatMap(prepared, (o) =>
      req.subresource === "status" ? Result.succeed(o) : validateMeta(req.def, o),
    )
  })

/** PUT: the body replaces the object; custom resources insist on a resourceVersion. */
export const update = Effect.fnUntraced(function* (store: ObjectStore["Service"], req: RestRequest) {
  const body = yield* Effect.fromResult(
    Result.flatMap(decodeBody(req), (o) =>
      Result.flatMap(checkNamespace(req, o), (o2) => checkName(req, o2)),
    ),
  )
  const rv = body.metadata.resourceVersion
  if ((rv === undefined || rv === "") && req.def.group !== "") {
    return yield* invalid(req.def, req.name ?? "", [
      {
        reason: "FieldValueInvalid",
        field: "metadata.resourceVersion",
        message: "Invalid value: 0x0: must be specified for an update",
      },
    ])
  }
  const updated = yield* store.update(stored(req.def), req.namespace ?? "", req.name ?? "", (current) =>
    applyStrategy(req, body, current),
  )
  return ok(updated)
})

/** PATCH: the patch applies to the current object, then the update rules run on the result. */
export const patch = Effect.fnUntraced(function* (store: ObjectStore["Service"], req: RestRequest) {
  const type = yield* Effect.fromResult(patchTypeOf(req.contentType))
  const patchBody = yield* Effect.fromResult(parseJson(req.body))
  const updated = yield* store.update(stored(req.def), req.namespace ?? "", req.name ?? "", (current) =>
    Result.flatMap(applyPatch(type, current, patchBody), (patched) =>
      Result.flatMap(decodeObject(patched, req.def), (next) =>
        Result.flatMap(checkNamespace(req, next), (n) =>
          Result.flatMap(checkName(req, n), (n2) => applyStrategy(req, n2, current)),
        ),
      ),
    ),
  )
  return ok(updated)
})

const deletePrecondition =
  (req: RestRequest, options: unknown) =>
  (current: KubeObject): Result.Result<void, ApiError> => {
    const pre = isJsonObject(options) && isJsonObject(options.preconditions) ? options.preconditions : {}
    if (typeof pre.uid === "string" && pre.uid !== current.metadata.uid) {
      return Result.fail(
        conflict(
          req.def,
          req.name ?? "",
          `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`,
        ),
      )
    }
    if (typeof pre.resourceVersion === "string" && pre.resourceVersion !== current.metadata.resourceVersion) {
      return Result.fail(
        conflict(
          req.def,
          req.name ?? "",
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`,
        ),
      )
    }
    return Result.void
  }

/** DELETE: answers with the object (pods, custom resources) or a Success Status (events). */
export const remove = Effect.fnUntraced(function* (store: ObjectStore["Service"], req: RestRequest) {
  const options = req.body.trim() === "" ? {} : yield* Effect.fromResult(parseJson(req.body))
  const result = yield* store.remove(
    stored(req.def),
    req.namespace ?? "",
    req.name ?? "",
    yield* now,
    deletePrecondition(req, options),
  )
  if (req.def.returnDeletedObject || !result.deleted) return ok(result.object)
  return ok(
    success({
      name: req.name ?? "",
      ...(req.def.group === "" ? {} : { group: req.def.group }),
      kind: req.def.resource,
      ...(result.object.metadata.uid === undefined ? {} : { uid: result.object.metadata.uid }),
    }),
  )
})

/** Every namespace exists: a get of any name answers an Active namespace. */
export const namespaceObject = (name: string, createdAt: string): KubeObject => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: {
    name,
    uid: stableUid(`namespace/${name}`),
    resourceVersion: "1",
    creationTimestamp: createdAt,
    labels: { "kubernetes.io/metadata.name": name },
  },
  spec: { finalizers: ["kubernetes"] },
  status: { phase: "Active" },
})

export const getNamespace = (name: string, createdAt: string): Effect.Effect<RestResponse> =>
  Effect.succeed(ok(namespaceObject(name, createdAt)))

/** Every namespace the sandbox knows of, as objects. */
export const namespaceObjects = (
  store: ObjectStore["Service"],
  createdAt: string,
): Effect.Effect<ReadonlyArray<KubeObject>> =>
  Effect.map(store.namespaces, (names) => names.map((n) => namespaceObject(n, createdAt)))

export const listNamespaces = Effect.fnUntraced(function* (
  store: ObjectStore["Service"],
  query: URLSearchParams,
  createdAt: string,
) {
  const selectors = yield* Effect.fromResult(selectorsOf(Namespaces, query))
  const names = yield* store.namespaces
  const rv = yield* store.currentResourceVersion
  return ok({
    apiVersion: "v1",
    kind: "NamespaceList",
    metadata: { resourceVersion: String(rv) },
    items: names
      .map((n) => namespaceObject(n, createdAt))
      .filter((o) => selects(Namespaces, selectors, o))
      .map((o) => listItem(Namespaces, o)),
  })
})

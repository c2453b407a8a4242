/**
 * The parts of a cert-manager.io/v1 CertificateRequest the driver reads, decoded
 * with Schema so a malformed object from the API is an error, not a crash, and the
 * rules that turn its conditions into an outcome (COMPATIBILITY.md).
 */
import { Result, Schema } from "effect"
import { volumeIdHashLabel } from "./labels.js"
import { isStruct, type Struct, stringRecord } from "./plain-shapes.js"

const Condition = Schema.Struct({
  type: Schema.String,
  status: Schema.String,
  reason: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
})
export type Condition = typeof Condition.Type

export const CertificateRequest = Schema.Struct({
  metadata: Schema.Struct({
    name: Schema.String,
    namespace: Schema.String,
    uid: Schema.optional(Schema.String),
    resourceVersion: Schema.optional(Schema.String),
    labels: Schema.optional(Schema.Record(Schema.String, Schema.String)),
    creationTimestamp: Schema.optional(Schema.String),
  }),
  spec: Schema.Struct({
    issuerRef: Schema.Struct({
      name: Schema.String,
      kind: Schema.optional(Schema.String),
      group: Schema.optional(Schema.String),
    }),
  }),
  status: Schema.optional(
    Schema.Struct({
      conditions: Schema.optional(Schema.Array(Condition)),
      certificate: Schema.optional(Schema.String),
      ca: Schema.optional(Schema.String),
    }),
  ),
})
export type CertificateRequest = typeof CertificateRequest.Type & {
  /**
   * Set on the informer cache's copy of an answered request: its certificate and CA
   * (KBs a volume, kept for as long as the request lives) were left out. Whoever needs
   * them reads the request once, or takes them from the watch event that brought them.
   */
  readonly certificatesOmitted?: true
}

/**
 * `CertificateRequest`'s decode, written out: the same checks and the same result as
 * `Schema.decodeUnknownResult(CertificateRequest)` (a test holds them to it), at a
 * fraction of the CPU of Schema's generic interpreter, which ran for every watch event.
 * The failure says only where: nothing reads more of it.
 */
export const decodeCertificateRequest = (raw: unknown): Result.Result<CertificateRequest, string> => {
  if (!isStruct(raw)) return Result.fail("not an object")
  const metadata = decodeMetadata(raw.metadata)
  if (metadata === undefined) return Result.fail("metadata")
  const spec = raw.spec
  if (!isStruct(spec)) return Result.fail("spec")
  const issuerRef = decodeIssuerRef(spec.issuerRef)
  if (issuerRef === undefined) return Result.fail("spec.issuerRef")
  const out: Mutable<CertificateRequest> = { metadata, spec: { issuerRef } }
  if ("status" in raw) {
    const status = raw.status === undefined ? undefined : decodeStatus(raw.status)
    if (status === invalid) return Result.fail("status")
    out.status = status
  }
  return Result.succeed(out)
}

type Mutable<A> = { -readonly [K in keyof A]: A[K] }
/** A failed optional field, told apart from one that is absent (undefined). */
const invalid: unique symbol = Symbol("invalid")

/** An optional string field: absent stays absent, present is a string or undefined (Schema.optional). */
const optionalString = <A extends object>(out: A, from: Struct, key: string & keyof A): boolean => {
  if (!(key in from)) return true
  const value = from[key]
  if (value !== undefined && typeof value !== "string") return false
  ;(out as Record<string, unknown>)[key] = value
  return true
}

type Metadata = CertificateRequest["metadata"]

const decodeMetadata = (raw: unknown): Metadata | undefined => {
  if (!isStruct(raw)) return undefined
  const { name, namespace } = raw
  if (typeof name !== "string" || typeof namespace !== "string") return undefined
  const out: Mutable<Metadata> = { name, namespace }
  if (!optionalString(out, raw, "uid") || !optionalString(out, raw, "resourceVersion")) return undefined
  if ("labels" in raw) {
    const labels = raw.labels === undefined ? undefined : (stringRecord(raw.labels) ?? invalid)
    if (labels === invalid) return undefined
    out.labels = labels
  }
  if (!optionalString(out, raw, "creationTimestamp")) return undefined
  return out
}

type IssuerRef = CertificateRequest["spec"]["issuerRef"]

const decodeIssuerRef = (raw: unknown): IssuerRef | undefined => {
  if (!isStruct(raw) || typeof raw.name !== "string") return undefined
  const out: Mutable<IssuerRef> = { name: raw.name }
  return optionalString(out, raw, "kind") && optionalString(out, raw, "group") ? out : undefined
}

type Status = NonNullable<CertificateRequest["status"]>

const decodeStatus = (raw: unknown): Status | typeof invalid => {
  if (!isStruct(raw)) return invalid
  const out: Mutable<Status> = {}
  if ("conditions" in raw) {
    const conditions = raw.conditions
    if (conditions === undefined) out.conditions = undefined
    else {
      if (!Array.isArray(conditions)) return invalid
      const decoded: Array<Condition> = []
      for (const item of conditions) {
        const condition = decodeCondition(item)
        if (condition === undefined) return invalid
        decoded.push(condition)
      }
      out.conditions = decoded
    }
  }
  return optionalString(out, raw, "certificate") && optionalString(out, raw, "ca") ? out : invalid
}

const decodeCondition = (raw: unknown): Condition | undefined => {
  if (!isStruct(raw)) return undefined
  const { type, status } = raw
  if (typeof type !== "string" || typeof status !== "string") return undefined
  const out: Mutable<Condition> = { type, status }
  return optionalString(out, raw, "reason") && optionalString(out, raw, "message") ? out : undefined
}

/**
 * Equal parts of cached requests are one object: requests to one issuer share their spec,
 * and answered ones their status (the same few conditions). Kinds are bounded, so odd
 * issuers cannot grow it without end; past the bound a part is simply not shared.
 */
const maxSharedKinds = 256
const sharedSpecs = new Map<string, CertificateRequest["spec"]>()
const sharedStatuses = new Map<string, NonNullable<CertificateRequest["status"]>>()

const shared = <A>(parts: Map<string, A>, key: string, make: () => A): A => {
  const found = parts.get(key)
  if (found !== undefined) return found
  const made = Object.freeze(make())
  if (parts.size < maxSharedKinds) parts.set(key, made)
  return made
}

/**
 * What the node's cache keeps of a request, one per volume for as long as the request
 * lives: only what the driver reads of it — its name and version, the volume label
 * (`removeForVolume`), the issuer's name and the conditions (`describe`, `outcomeOf`).
 * An answered request (one with a certificate) also leaves out the certificate, the CA and
 * the conditions' messages; `certificatesOmitted` says so, and a reader of its answer
 * reads the request again.
 */
export const forCache = (request: CertificateRequest): CertificateRequest => {
  const { metadata, status } = request
  const volumeHash = metadata.labels?.[volumeIdHashLabel]
  const answered = status?.certificate !== undefined || status?.ca !== undefined
  const issuer = request.spec.issuerRef.name
  const cachedStatus =
    status === undefined
      ? undefined
      : !answered
        ? status.conditions === undefined
          ? {}
          : { conditions: status.conditions }
        : answeredStatus(status.conditions ?? [])
  return {
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace,
      ...(metadata.resourceVersion === undefined ? {} : { resourceVersion: metadata.resourceVersion }),
      ...(volumeHash === undefined ? {} : { labels: { [volumeIdHashLabel]: volumeHash } }),
    },
    spec: shared(sharedSpecs, issuer, () => ({ issuerRef: Object.freeze({ name: issuer }) })),
    ...(cachedStatus === undefined ? {} : { status: cachedStatus }),
    ...(answered ? { certificatesOmitted: true } : {}),
  }
}

/** An answered request's conditions without their messages: the same few for every request. */
const answeredStatus = (conditions: ReadonlyArray<Condition>) => {
  const kept = conditions.map(({ type, status, reason }) =>
    reason === undefined ? { type, status } : { type, status, reason },
  )
  const key = kept.map((c) => `${c.type}\u0000${c.status}\u0000${c.reason ?? ""}`).join("\n")
  return shared(sharedStatuses, key, () => ({ conditions: Object.freeze(kept.map((c) => Object.freeze(c))) }))
}

export type Outcome =
  | { readonly _tag: "Pending" }
  | { readonly _tag: "Issued"; readonly certificatePem: string; readonly caPem: string }
  | { readonly _tag: "Denied"; readonly reason: string; readonly message: string }
  | { readonly _tag: "Failed"; readonly reason: string; readonly message: string }

/**
 * Reasons the driver gives when `Ready=True` breaks cert-manager's contract, which
 * is that reason `Issued` means "completed, and `status.certificate` is set", and
 * that a Ready request is final: waiting longer would never help.
 */
export const IssuedWithoutCertificate = "IssuedWithoutCertificate"
export const CertificateNotBase64 = "CertificateNotBase64"

/** Bounds for text the issuer wrote, before it goes into a message or event. */
export const maxReason = 128
export const maxMessage = 512
const maxConditionsShown = 5

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text)

const conditionOf = (request: CertificateRequest, type: string) =>
  request.status?.conditions?.find((condition) => condition.type === type)

const base64 = /^[A-Za-z0-9+/]*={0,2}$/

/** The API server checks `format: byte` fields; a value that is not base64 anyway is not read leniently. */
const fromBase64 = (value: string | undefined): string | undefined => {
  const text = value ?? ""
  if (text.length % 4 !== 0 || !base64.test(text)) return undefined
  return Buffer.from(text, "base64").toString("utf8")
}

const finished = (
  _tag: "Denied" | "Failed",
  reason: string | undefined,
  fallback: string,
  message: string | undefined,
): Outcome => ({ _tag, reason: cut(reason || fallback, maxReason), message: cut(message ?? "", maxMessage) })

/** Ready=True is final: a certificate, or a failure saying why there is none. */
const ready = (request: CertificateRequest, condition: Condition): Outcome => {
  const why = `Ready=True${condition.reason ? ` (${cut(condition.reason, maxReason)})` : ""}`
  if ((request.status?.certificate ?? "") === "") {
    return finished(
      "Failed",
      IssuedWithoutCertificate,
      "",
      `the issuer set ${why} but left status.certificate empty`,
    )
  }
  const certificatePem = fromBase64(request.status?.certificate)
  const caPem = fromBase64(request.status?.ca)
  if (certificatePem === undefined || caPem === undefined) {
    const field = certificatePem === undefined ? "status.certificate" : "status.ca"
    return finished("Failed", CertificateNotBase64, "", `the issuer set ${why} but ${field} is not base64`)
  }
  return { _tag: "Issued", certificatePem, caPem }
}

export const outcomeOf = (request: CertificateRequest): Outcome => {
  const denied = conditionOf(request, "Denied")
  if (denied?.status === "True") return finished("Denied", denied.reason, "Denied", denied.message)
  const invalid = conditionOf(request, "InvalidRequest")
  if (invalid?.status === "True") return finished("Failed", invalid.reason, "InvalidRequest", invalid.message)
  const readyCondition = conditionOf(request, "Ready")
  if (readyCondition?.status === "True") return ready(request, readyCondition)
  if (
    readyCondition?.status === "False" &&
    (readyCondition.reason === "Failed" || readyCondition.reason === "Denied")
  ) {
    return finished("Failed", readyCondition.reason, "Failed", readyCondition.message)
  }
  return { _tag: "Pending" }
}

/** At most this much of the conditions goes into a message (an IssuancePending status, an event). */
export const maxDescription = 1200

/** One line for messages: `Approved=True, Ready=False (Pending: waiting on issuer)`; bounded. */
export const describeConditions = (request: CertificateRequest | undefined): string => {
  const conditions = request?.status?.conditions ?? []
  if (conditions.length === 0) return "no conditions yet: not approved or picked up by an issuer"
  const shown = conditions.slice(0, maxConditionsShown).map((c) => {
    const why = [cut(c.reason ?? "", 64), cut(c.message ?? "", 160)].filter((part) => part !== "").join(": ")
    return `${cut(c.type, 32)}=${cut(c.status, 32)}${why === "" ? "" : ` (${why})`}`
  })
  const more = conditions.length - shown.length
  return cut(`${shown.join(", ")}${more > 0 ? `, and ${more} more` : ""}`, maxDescription)
}

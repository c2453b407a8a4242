/**
 * The parts of a cert-manager.io/v1 CertificateRequest the driver reads, decoded
 * with Schema so a malformed object from the API is an error, not a crash, and the
 * rules that turn its conditions into an outcome (COMPATIBILITY.md).
 */
import { Schema } from "effect"

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
export type CertificateRequest = typeof CertificateRequest.Type

export const decodeCertificateRequest = Schema.decodeUnknownResult(CertificateRequest)

export type Outcome =
  | { readonly _tag: "Pending" }
  | { readonly _tag: "Issued"; readonly certificatePem: string; readonly caPem: string }
  | { readonly _tag: "Denied"; readonly reason: string; readonly message: string }
  | { readonly _tag: "Failed"; readonly reason: string; readonly message: string }

const conditionOf = (request: CertificateRequest, type: string) =>
  request.status?.conditions?.find((condition) => condition.type === type)

const fromBase64 = (value: string | undefined) => Buffer.from(value ?? "", "base64").toString("utf8")

export const outcomeOf = (request: CertificateRequest): Outcome => {
  const denied = conditionOf(request, "Denied")
  if (denied?.status === "True") {
    return { _tag: "Denied", reason: denied.reason ?? "Denied", message: denied.message ?? "" }
  }
  const invalid = conditionOf(request, "InvalidRequest")
  if (invalid?.status === "True") {
    return { _tag: "Failed", reason: invalid.reason ?? "InvalidRequest", message: invalid.message ?? "" }
  }
  const ready = conditionOf(request, "Ready")
  if (ready?.status === "True" && (request.status?.certificate ?? "") !== "") {
    return {
      _tag: "Issued",
      certificatePem: fromBase64(request.status?.certificate),
      caPem: fromBase64(request.status?.ca),
    }
  }
  if (ready?.status === "False" && (ready.reason === "Failed" || ready.reason === "Denied")) {
    return { _tag: "Failed", reason: ready.reason, message: ready.message ?? "" }
  }
  return { _tag: "Pending" }
}

/** One line for messages: `Approved=True, Ready=False (Pending: waiting on issuer)`. */
export const describeConditions = (request: CertificateRequest | undefined): string => {
  const conditions = request?.status?.conditions ?? []
  if (conditions.length === 0) return "no conditions yet: not approved or picked up by an issuer"
  return conditions
    .map((c) => {
      const why = [c.reason, c.message].filter((part) => part !== undefined && part !== "").join(": ")
      return `${c.type}=${c.status}${why === "" ? "" : ` (${why})`}`
    })
    .join(", ")
}

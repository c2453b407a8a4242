/**
 * Errors of the Kubernetes side: the API itself, and what the issuer decided. A failed
 * API call becomes one of four errors by what its status means for a retry: the API
 * was unavailable (retry), it refused the object (the volume's attributes must
 * change), or it did not accept the credentials (401) or the permission (403).
 */
import { Schema } from "effect"
import { cutToBytes } from "../bounded.js"

/** What every failed API call carries: the call, and what the server answered. */
const apiFields = {
  verb: Schema.String,
  /** What the call was about: a resource, or a kind and the object's `namespace/name`. */
  resource: Schema.String,
  /** HTTP status, 0 when no response arrived. */
  status: Schema.Number,
  /** The Status body's `reason` (or the code), or why no response came. */
  reason: Schema.String,
  /** The Status body's `message`: for an admission webhook, its reason for refusing. */
  detail: Schema.String,
}
export type ApiFailureFields = Schema.Struct.Type<typeof apiFields>

const describe = (e: ApiFailureFields, hint: string): string => {
  const status = e.status === 0 ? "no response" : `HTTP ${e.status} ${e.reason}`
  return `Kubernetes API ${e.verb} ${e.resource}: ${status}${e.detail === "" ? "" : `: ${e.detail}`}${hint}`
}

/** The API server could not be reached, timed out, throttled us or failed: transient, retry. */
export class KubeApiError extends Schema.TaggedError<KubeApiError>()("KubeApiError", apiFields) {
  override get message(): string {
    return describe(this, "")
  }
}

/** The API server or an admission webhook refused the object (400, 406, 413, 422 on create). */
export class KubeApiRejected extends Schema.TaggedError<KubeApiRejected>()("KubeApiRejected", apiFields) {
  override get message(): string {
    return describe(this, "; change the volume attributes it refers to")
  }
}

/** The API server did not accept the credentials (401): an expired or foreign token. */
export class KubeApiUnauthenticated extends Schema.TaggedError<KubeApiUnauthenticated>()(
  "KubeApiUnauthenticated",
  apiFields,
) {
  override get message(): string {
    return describe(
      this,
      "; the credentials were refused: with --use-token-request, the pod's service-account token from kubelet (check tokenRequests on the CSIDriver object), otherwise the driver's own",
    )
  }
}

/** The identity may not do this (403): RBAC or an admission policy. */
export class KubeApiForbidden extends Schema.TaggedError<KubeApiForbidden>()("KubeApiForbidden", apiFields) {
  override get message(): string {
    return describe(
      this,
      "; grant that identity the permission (with --use-token-request, the pod's service account needs to create certificaterequests)",
    )
  }
}

export type KubeApiFailure = KubeApiError | KubeApiRejected | KubeApiUnauthenticated | KubeApiForbidden

const apiFailureTags: ReadonlySet<string> = new Set([
  "KubeApiError",
  "KubeApiRejected",
  "KubeApiUnauthenticated",
  "KubeApiForbidden",
])

export const isKubeApiFailure = (error: unknown): error is KubeApiFailure =>
  typeof error === "object" && error !== null && "_tag" in error && apiFailureTags.has(String(error._tag))

/** Statuses by which the API server refuses what was sent, as opposed to failing to handle it. */
const refusals: ReadonlySet<number> = new Set([400, 406, 413, 422])

/** The most of the server's message an error keeps (a webhook may list every bad field). */
const maxDetailBytes = 1024

/**
 * The error a failed call's status means: 401 and 403 as such; a create the server
 * refused as invalid; anything else (no response, 408, 429, 5xx, and statuses a call
 * should never see) as unavailable, which kubelet retries.
 */
export const apiFailureOf = (fields: ApiFailureFields): KubeApiFailure => {
  const bounded = { ...fields, detail: cutToBytes(fields.detail, maxDetailBytes) }
  if (fields.status === 401) return new KubeApiUnauthenticated(bounded)
  if (fields.status === 403) return new KubeApiForbidden(bounded)
  if (fields.verb === "create" && refusals.has(fields.status)) return new KubeApiRejected(bounded)
  return new KubeApiError(bounded)
}

export interface RequestName {
  readonly namespace: string
  readonly name: string
}

/** The most of an issuer's words (a condition's reason and message) a message shows. */
const issuerWords = (text: string, maxBytes = maxDetailBytes) => cutToBytes(text, maxBytes)

const requestFields = {
  namespace: Schema.String,
  name: Schema.String,
  issuer: Schema.String,
  reason: Schema.String,
  detail: Schema.String,
}

/** The approver denied the CertificateRequest. */
export class RequestDenied extends Schema.TaggedError<RequestDenied>()("RequestDenied", requestFields) {
  override get message(): string {
    return `CertificateRequest ${this.namespace}/${this.name} was denied (${issuerWords(this.reason, 128)}): ${issuerWords(this.detail)}; check the approval policy for issuer ${this.issuer}`
  }
}

/** The issuer failed the CertificateRequest, or it disappeared before it was issued. */
export class RequestFailed extends Schema.TaggedError<RequestFailed>()("RequestFailed", requestFields) {
  override get message(): string {
    return `CertificateRequest ${this.namespace}/${this.name} failed (${issuerWords(this.reason, 128)}): ${issuerWords(this.detail)}; check issuer ${this.issuer}`
  }
}

/** Issuance had not finished by the call's deadline; it continues, and a retry joins it. */
export class IssuancePending extends Schema.TaggedError<IssuancePending>()("IssuancePending", {
  volumeId: Schema.String,
  request: Schema.String,
  issuer: Schema.String,
  conditions: Schema.String,
}) {
  override get message(): string {
    const request =
      this.request === "" ? "the CertificateRequest is not created yet" : `CertificateRequest ${this.request}`
    return `waiting for issuer ${this.issuer}: ${request} is not ready (${issuerWords(this.conditions)}); issuance continues and the next attempt picks it up — if it stays pending, check that the issuer exists and that the request is approved`
  }
}

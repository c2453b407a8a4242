/** Errors of the Kubernetes side: the API itself, and what the issuer decided. */
import { Schema } from "effect"

/** The API server could not be reached, throttled us, or refused the call. */
export class KubeApiError extends Schema.TaggedError<KubeApiError>()("KubeApiError", {
  verb: Schema.String,
  resource: Schema.String,
  /** HTTP status, 0 when no response arrived. */
  status: Schema.Number,
  reason: Schema.String,
  detail: Schema.String,
}) {
  override get message(): string {
    const status = this.status === 0 ? "no response" : `HTTP ${this.status} ${this.reason}`
    return `Kubernetes API ${this.verb} ${this.resource}: ${status}${this.detail === "" ? "" : `: ${this.detail}`}`
  }
}

export interface RequestName {
  readonly namespace: string
  readonly name: string
}

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
    return `CertificateRequest ${this.namespace}/${this.name} was denied (${this.reason}): ${this.detail}; check the approval policy for issuer ${this.issuer}`
  }
}

/** The issuer failed the CertificateRequest, or it disappeared before it was issued. */
export class RequestFailed extends Schema.TaggedError<RequestFailed>()("RequestFailed", requestFields) {
  override get message(): string {
    return `CertificateRequest ${this.namespace}/${this.name} failed (${this.reason}): ${this.detail}; check issuer ${this.issuer}`
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
    return `waiting for issuer ${this.issuer}: ${request} is not ready (${this.conditions}); issuance continues and the next attempt picks it up — if it stays pending, check that the issuer exists and that the request is approved`
  }
}

/**
 * `metav1.Status` failures as the real API server writes them, and the one error type
 * (`ApiError`) that carries such a Status from any handler to the HTTP edge. Messages,
 * reasons and codes copy the apiserver's, so clients that switch on `reason` (client-go's
 * `IsNotFound`, client-node's `ApiException.code`) behave as they would against a cluster.
 */
import { Data } from "effect"

export interface StatusCause {
  readonly reason: string
  readonly message: string
  readonly field?: string
}

export interface StatusDetails {
  readonly name?: string
  readonly group?: string
  readonly kind?: string
  readonly uid?: string
  readonly causes?: ReadonlyArray<StatusCause>
  readonly retryAfterSeconds?: number
}

/** The `Status` object of `meta.k8s.io/v1`. */
export interface Status {
  readonly kind: "Status"
  readonly apiVersion: "v1"
  readonly metadata: Record<string, never>
  readonly status: "Failure" | "Success"
  readonly message?: string
  readonly reason?: string
  readonly details?: StatusDetails
  readonly code: number
}

/** A request that ends in a Status failure; `status.code` is the HTTP status. */
export class ApiError extends Data.TaggedError("ApiError")<{ readonly status: Status }> {}

/** Names a resource the way apiserver messages do: `pods`, `certificaterequests.cert-manager.io`. */
export interface ResourceName {
  readonly group: string
  readonly resource: string
  readonly kind: string
}

const qualified = (r: ResourceName): string => (r.group === "" ? r.resource : `${r.resource}.${r.group}`)
const qualifiedKind = (r: ResourceName): string => (r.group === "" ? r.kind : `${r.kind}.${r.group}`)

export const failure = (code: number, reason: string, message: string, details?: StatusDetails): ApiError =>
  new ApiError({
    status: {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      ...(details === undefined ? {} : { details }),
      code,
    },
  })

export const success = (details: StatusDetails): Status => ({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Success",
  details,
  code: 200,
})

export const notFound = (r: ResourceName, name: string): ApiError =>
  failure(404, "NotFound", `${qualified(r)} "${name}" not found`, {
    name,
    ...(r.group === "" ? {} : { group: r.group }),
    kind: r.resource,
  })

export const alreadyExists = (r: ResourceName, name: string): ApiError =>
  failure(409, "AlreadyExists", `${qualified(r)} "${name}" already exists`, {
    name,
    ...(r.group === "" ? {} : { group: r.group }),
    kind: r.resource,
  })

export const conflict = (r: ResourceName, name: string, why: string): ApiError =>
  failure(409, "Conflict", `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${why}`, {
    name,
    ...(r.group === "" ? {} : { group: r.group }),
    kind: r.resource,
  })

export const modifiedConflict = (r: ResourceName, name: string): ApiError =>
  conflict(
    r,
    name,
    "the object has been modified; please apply your changes to the latest version and try again",
  )

/** 422 with field causes, as validation failures are reported. */
export const invalid = (r: ResourceName, name: string, causes: ReadonlyArray<StatusCause>): ApiError =>
  failure(
    422,
    "Invalid",
    `${qualifiedKind(r)} "${name}" is invalid: ${causes.map((c) => `${c.field ?? ""}: ${c.message}`).join(", ")}`,
    { name, ...(r.group === "" ? {} : { group: r.group }), kind: r.kind, causes },
  )

export const badRequest = (message: string): ApiError => failure(400, "BadRequest", message)

export const unauthorized = (): ApiError => failure(401, "Unauthorized", "Unauthorized")

/** 403 as RBAC denies a request, in the apiserver's words. */
export const forbidden = (
  r: ResourceName,
  username: string,
  verb: string,
  namespace: string | undefined,
): ApiError =>
  failure(
    403,
    "Forbidden",
    `${qualified(r)} is forbidden: User "${username}" cannot ${verb} resource "${r.resource}" in API group "${r.group}" ${namespace === undefined ? "at the cluster scope" : `in the namespace "${namespace}"`}`,
    { ...(r.group === "" ? {} : { group: r.group }), kind: r.resource },
  )

export const methodNotAllowed = (): ApiError =>
  failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

export const pathNotFound = (): ApiError =>
  failure(404, "NotFound", "the server could not find the requested resource", {})

export const unsupportedMediaType = (contentType: string): ApiError =>
  failure(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${contentType})`,
  )

export const expired = (requested: number, oldest: number): ApiError =>
  failure(410, "Expired", `too old resource version: ${requested} (${oldest})`)

export const serviceUnavailable = (): ApiError =>
  failure(503, "ServiceUnavailable", "the server is currently unable to handle the request (injected fault)")

/** How cert-manager's validating webhook rejects a request (it answers 406 NotAcceptable). */
export const webhookDenied = (causes: ReadonlyArray<StatusCause>): ApiError => {
  const list = causes.map((c) => `${c.field ?? ""}: ${c.message}`)
  const text = list.length === 1 ? list[0] : `[${list.join(", ")}]`
  return failure(
    406,
    "NotAcceptable",
    `admission webhook "webhook.cert-manager.io" denied the request: ${text}`,
  )
}

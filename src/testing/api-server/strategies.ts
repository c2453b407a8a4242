/**
 * Per-resource write rules, as the apiserver's registry strategies and cert-manager's
 * webhook apply them: what a create fills in or strips, what an update may change on
 * the main resource and on `/status`, when `generation` moves, and the admission checks
 * (cert-manager's identity fields on CertificateRequests, the CSR's usages against
 * spec.usages, immutable spec, approval conditions that cannot be undone, an Event's namespace).
 */
import { Result } from "effect"
import { KeyUsages } from "../../attributes/spec.js"
import { csrCauses } from "./csr-admission.js"
import { compact, isJsonObject, type JsonObject, jsonEqual, type KubeObject } from "./objects.js"
import { normalizePodStatus } from "./pod-status.js"
import type { ResourceDef } from "./resources.js"
import { type ApiError, invalid, type StatusCause, webhookDenied } from "./status.js"
import type { UserInfo } from "./users.js"

const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

const qualifiedNamePart = /^(?=.{1,63}$)([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const totalAnnotationBytes = 256 * 1024

/** The apiserver's annotation rules: each key a qualified name (checked in lower case), 256 KiB in all. */
const annotationCauses = (annotations: Readonly<Record<string, string>> | undefined): Array<StatusCause> => {
  const causes: Array<StatusCause> = []
  let bytes = 0
  for (const [key, value] of Object.entries(annotations ?? {})) {
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value)
    const lower = key.toLowerCase()
    const slash = lower.indexOf("/")
    const prefix = slash < 0 ? undefined : lower.slice(0, slash)
    const name = slash < 0 ? lower : lower.slice(slash + 1)
    const prefixOk = prefix === undefined || (prefix.length <= 253 && dnsSubdomain.test(prefix))
    if (!prefixOk || !qualifiedNamePart.test(name) || name.includes("/")) {
      causes.push({
        reason: "FieldValueInvalid",
        field: "metadata.annotations",
        message: `Invalid value: ${JSON.stringify(key.slice(0, 300))}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
      })
    }
  }
  if (bytes > totalAnnotationBytes) {
    causes.push({
      reason: "FieldValueTooLong",
      field: "metadata.annotations",
      message: `Too long: may not be more than ${totalAnnotationBytes} bytes`,
    })
  }
  return causes
}

/** Checks of metadata common to every kind (name syntax, annotations, owner references). */
export const validateMeta = (def: ResourceDef, obj: KubeObject): Result.Result<KubeObject, ApiError> => {
  const name = obj.metadata.name ?? ""
  const causes: Array<StatusCause> = []
  if (name.length > 253 || !dnsSubdomain.test(name)) {
    causes.push({
      reason: "FieldValueInvalid",
      field: "metadata.name",
      message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    })
  }
  causes.push(...annotationCauses(obj.metadata.annotations))
  for (const [i, ref] of (obj.metadata.ownerReferences ?? []).entries()) {
    if (ref.uid === "") {
      causes.push({
        reason: "FieldValueInvalid",
        field: `metadata.ownerReferences[${i}].uid`,
        message: `Invalid value: "": uid must not be empty`,
      })
    }
  }
  return causes.length === 0 ? Result.succeed(obj) : Result.fail(invalid(def, name, causes))
}

const specOf = (obj: KubeObject): JsonObject => (isJsonObject(obj.spec) ? obj.spec : {})

const conditionsOf = (obj: KubeObject): ReadonlyArray<JsonObject> => {
  const status = obj.status
  if (!isJsonObject(status) || !Array.isArray(status.conditions)) return []
  return status.conditions.filter(isJsonObject)
}

/** cert-manager's mutating webhook: the requester's identity goes into the spec. */
const certificateRequestIdentity = (obj: KubeObject, user: UserInfo): KubeObject => {
  const spec: JsonObject = { ...specOf(obj), username: user.username, groups: [...user.groups] }
  if (user.uid === "") delete spec.uid
  else spec.uid = user.uid
  if (user.extra === undefined) delete spec.extra
  else spec.extra = user.extra
  return { ...obj, spec }
}

/** cert-manager's validating webhook, the parts a client can get wrong (the CSR's usages among them). */
const validateCertificateRequestSpec = (obj: KubeObject): Result.Result<KubeObject, ApiError> => {
  const spec = specOf(obj)
  const causes: Array<StatusCause> = []
  if (typeof spec.request !== "string" || spec.request === "") {
    causes.push({
      reason: "FieldValueRequired",
      field: "spec.request",
      message: "Required value: must be specified",
    })
  }
  causes.push(...csrCauses(spec))
  const issuerRef = isJsonObject(spec.issuerRef) ? spec.issuerRef : {}
  if (typeof issuerRef.name !== "string" || issuerRef.name === "") {
    causes.push({
      reason: "FieldValueRequired",
      field: "spec.issuerRef.name",
      message: "Required value: must be specified",
    })
  }
  const usages = spec.usages
  if (usages !== undefined && usages !== null) {
    if (!Array.isArray(usages)) {
      causes.push({
        reason: "FieldValueInvalid",
        field: "spec.usages",
        message: "Invalid value: must be a list",
      })
    } else {
      for (const [i, u] of usages.entries()) {
        if (!(KeyUsages as ReadonlyArray<unknown>).includes(u)) {
          causes.push({
            reason: "FieldValueNotSupported",
            field: `spec.usages[${i}]`,
            message: `Unsupported value: ${JSON.stringify(u)}`,
          })
        }
      }
    }
  }
  return causes.length === 0 ? Result.succeed(obj) : Result.fail(webhookDenied(causes))
}

const approvalState = (obj: KubeObject, type: string): unknown =>
  conditionsOf(obj).find((c) => c.type === type)?.status

/** Once Approved or Denied is set it stays, and the two never coexist. */
const validateApproval = (next: KubeObject, old: KubeObject): Result.Result<KubeObject, ApiError> => {
  const causes: Array<StatusCause> = []
  for (const type of ["Approved", "Denied"]) {
    const before = approvalState(old, type)
    if (before !== undefined && before !== approvalState(next, type)) {
      causes.push({
        reason: "FieldValueForbidden",
        field: "status.conditions",
        message: `Forbidden: '${type}' condition may not be modified once set`,
      })
    }
  }
  if (approvalState(next, "Approved") !== undefined && approvalState(next, "Denied") !== undefined) {
    causes.push({
      reason: "FieldValueForbidden",
      field: "status.conditions",
      message: "Forbidden: both 'Denied' and 'Approved' conditions cannot coexist",
    })
  }
  return causes.length === 0 ? Result.succeed(next) : Result.fail(webhookDenied(causes))
}

/** What a create stores: system fields filled in by the caller, these kind-specific ones here. */
export const prepareForCreate = (
  def: ResourceDef,
  obj: KubeObject,
  user: UserInfo,
): Result.Result<KubeObject, ApiError> => {
  switch (def.resource) {
    case "certificaterequests": {
      const { status: _dropped, ...rest } = obj
      return validateCertificateRequestSpec(
        certificateRequestIdentity(
          { ...rest, apiVersion: obj.apiVersion, kind: obj.kind, metadata: obj.metadata },
          user,
        ),
      )
    }
    case "pods": {
      const spec = specOf(obj)
      return Result.succeed({
        ...obj,
        spec: { ...spec, serviceAccountName: spec.serviceAccountName ?? "default" },
        status: { phase: "Pending", qosClass: "BestEffort" },
      })
    }
    case "events": {
      const involved = isJsonObject(obj.involvedObject) ? obj.involvedObject : {}
      const ns = involved.namespace
      if (typeof ns === "string" && ns !== "" && ns !== obj.metadata.namespace) {
        return Result.fail(
          invalid(def, obj.metadata.name ?? "", [
            {
              reason: "FieldValueInvalid",
              field: "involvedObject.namespace",
              message: `Invalid value: "${ns}": does not match event.namespace`,
            },
          ]),
        )
      }
      return Result.succeed(obj)
    }
    default:
      return Result.succeed(obj)
  }
}

const withoutMetaAndStatus = (obj: KubeObject): JsonObject => {
  const { metadata: _m, status: _s, ...rest } = obj
  return rest
}

/**
 * The object an update of the main resource stores: system metadata from the old object,
 * status from the old object when the kind has a status subresource, generation bumped
 * when anything outside metadata and status changed.
 */
export const prepareForUpdate = (
  def: ResourceDef,
  next: KubeObject,
  old: KubeObject,
): Result.Result<KubeObject, ApiError> => {
  const deleting = old.metadata.deletionTimestamp !== undefined
  const metadata: Record<string, unknown> = {
    ...next.metadata,
    name: old.metadata.name,
    namespace: old.metadata.namespace,
    uid: old.metadata.uid,
    creationTimestamp: old.metadata.creationTimestamp,
    deletionTimestamp: old.metadata.deletionTimestamp,
    deletionGracePeriodSeconds: deleting ? 0 : undefined,
  }
  if (def.generation) {
    const changed = !jsonEqual(withoutMetaAndStatus(next), withoutMetaAndStatus(old))
    metadata.generation = (old.metadata.generation ?? 1) + (changed ? 1 : 0)
  }
  let result: KubeObject = { ...next, metadata: compact(metadata) }
  if (def.statusSubresource) {
    const { status: _ignored, ...rest } = result
    result =
      old.status === undefined
        ? { ...rest, metadata: result.metadata }
        : { ...rest, metadata: result.metadata, status: old.status }
  }
  if (def.resource === "certificaterequests") {
    if (!jsonEqual(specOf(next), specOf(old))) {
      return Result.fail(
        webhookDenied([
          {
            reason: "FieldValueForbidden",
            field: "spec",
            message: "Forbidden: cannot change spec after creation",
          },
        ]),
      )
    }
    return validateApproval(result, old)
  }
  return Result.succeed(result)
}

/** The object a `/status` update stores: the old object with only its status replaced. */
export const prepareForStatusUpdate = (
  def: ResourceDef,
  next: KubeObject,
  old: KubeObject,
): Result.Result<KubeObject, ApiError> => {
  const { status: _old, ...rest } = old
  const result: KubeObject = next.status === undefined ? rest : { ...rest, status: next.status }
  if (def.resource === "pods") return normalizePodStatus(def, result)
  return def.resource === "certificaterequests" ? validateApproval(result, old) : Result.succeed(result)
}

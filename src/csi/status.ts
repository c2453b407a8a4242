/**
 * The one place where the driver's typed errors become gRPC status codes
 * (ARCHITECTURE.md, "Errors"). Kubelet treats CANCELLED, DEADLINE_EXCEEDED,
 * UNAVAILABLE, RESOURCE_EXHAUSTED and ABORTED as "may still be in progress" and
 * shows `details` to users as a pod event, so each error's message says what to fix.
 */
import { status as Code } from "@grpc/grpc-js"
import { Cause, Exit, Option, Predicate } from "effect"
import { cutToBytes, maxMessageBytes } from "../bounded.js"

export interface CallStatus {
  readonly code: Code
  readonly name: keyof typeof Code
  readonly details: string
  /** True when the failure was a bug (a defect), not a typed error. */
  readonly defect: boolean
}

/** Error tag → gRPC code. A tag missing here is a bug and maps to INTERNAL. */
const codeOfTag: Readonly<Record<string, Code>> = {
  // The pod spec or the CSIDriver object must change: final.
  InvalidRequest: Code.INVALID_ARGUMENT,
  InvalidAttributes: Code.INVALID_ARGUMENT,
  TokenMissing: Code.INVALID_ARGUMENT,
  // The issuer said no, or answered garbage: kubelet retries with backoff.
  RequestDenied: Code.FAILED_PRECONDITION,
  RequestFailed: Code.FAILED_PRECONDITION,
  CertificateInvalid: Code.FAILED_PRECONDITION,
  // The pod was deleted: nothing to issue for; kubelet tears the volume down with the pod.
  PodGone: Code.FAILED_PRECONDITION,
  // Still being issued; the request keeps going and a retry joins it.
  IssuancePending: Code.DEADLINE_EXCEEDED,
  // The API server or a webhook refused the request made from the attributes: final.
  KubeApiRejected: Code.INVALID_ARGUMENT,
  // Credentials or permissions: an administrator (or kubelet's next token) must fix them.
  KubeApiUnauthenticated: Code.UNAUTHENTICATED,
  KubeApiForbidden: Code.PERMISSION_DENIED,
  // Transient: unreachable, timing out, throttling or failing.
  KubeApiError: Code.UNAVAILABLE,
  VolumeBusy: Code.ABORTED,
  // Local faults, with path and errno in the message.
  StorageError: Code.INTERNAL,
  MountError: Code.INTERNAL,
  KeyError: Code.INTERNAL,
  CsrError: Code.INTERNAL,
  Pkcs12Error: Code.INTERNAL,
  Unhealthy: Code.INTERNAL,
  InternalError: Code.INTERNAL,
  Unimplemented: Code.UNIMPLEMENTED,
}

const names = new Map(
  (Object.keys(Code) as Array<keyof typeof Code>).map((name) => [Code[name], name] as const),
)
const nameOf = (code: Code): keyof typeof Code => names.get(code) ?? "UNKNOWN"

// The last line of defence: whatever an error's message holds, the trailer stays small.
const make = (code: Code, details: string, defect = false): CallStatus => ({
  code,
  name: nameOf(code),
  details: cutToBytes(details, maxMessageBytes),
  defect,
})

const ok = make(Code.OK, "")

const ofError = (error: unknown): CallStatus => {
  const tag = Predicate.hasProperty(error, "_tag") && Predicate.isString(error._tag) ? error._tag : undefined
  const message = error instanceof Error ? error.message : String(error)
  const code = tag === undefined ? undefined : codeOfTag[tag]
  return code === undefined ? make(Code.INTERNAL, message, true) : make(code, message)
}

export const toStatus = (exit: Exit.Exit<unknown, unknown>): CallStatus => {
  if (Exit.isSuccess(exit)) return ok
  const failure = Cause.findErrorOption(exit.cause)
  if (Option.isSome(failure)) return ofError(failure.value)
  if (Cause.hasInterruptsOnly(exit.cause)) {
    return make(Code.UNAVAILABLE, "interrupted: the call was cancelled or the driver is shutting down; retry")
  }
  return make(Code.INTERNAL, "internal error in the driver; its logs have the details", true)
}

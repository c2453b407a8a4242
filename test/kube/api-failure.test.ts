/**
 * What a failed API call's status means: the error it becomes (`apiFailureOf`), the
 * gRPC code kubelet sees (`toStatus`) and the issuance outcome the metrics count.
 */
import { status as Code } from "@grpc/grpc-js"
import { Exit } from "effect"
import { describe, expect, it } from "vitest"
import { toStatus } from "../../src/csi/status.js"
import { apiFailureOf, isKubeApiFailure } from "../../src/kube/errors.js"
import { outcomeOfError } from "../../src/observability/metrics.js"

const failure = (verb: string, status: number, detail = "") =>
  apiFailureOf({
    verb,
    resource: "CertificateRequest team-a/3f2a",
    status,
    reason: status === 0 ? "Unreachable" : "Reason",
    detail,
  })

describe("apiFailureOf: an API status by its meaning", () => {
  it.each([
    ["create", 0, "KubeApiError", Code.UNAVAILABLE, "api-error"],
    ["create", 408, "KubeApiError", Code.UNAVAILABLE, "api-error"],
    ["create", 429, "KubeApiError", Code.UNAVAILABLE, "api-error"],
    ["create", 500, "KubeApiError", Code.UNAVAILABLE, "api-error"],
    ["create", 503, "KubeApiError", Code.UNAVAILABLE, "api-error"],
    ["create", 504, "KubeApiError", Code.UNAVAILABLE, "api-error"],
    ["create", 400, "KubeApiRejected", Code.INVALID_ARGUMENT, "rejected"],
    ["create", 406, "KubeApiRejected", Code.INVALID_ARGUMENT, "rejected"],
    ["create", 413, "KubeApiRejected", Code.INVALID_ARGUMENT, "rejected"],
    ["create", 422, "KubeApiRejected", Code.INVALID_ARGUMENT, "rejected"],
    ["delete", 422, "KubeApiError", Code.UNAVAILABLE, "api-error"],
    ["create", 401, "KubeApiUnauthenticated", Code.UNAUTHENTICATED, "unauthorized"],
    ["list", 401, "KubeApiUnauthenticated", Code.UNAUTHENTICATED, "unauthorized"],
    ["create", 403, "KubeApiForbidden", Code.PERMISSION_DENIED, "unauthorized"],
  ] as const)("%s → HTTP %d is %s (%s)", (verb, status, tag, code, outcome) => {
    const error = failure(verb, status)
    expect(error._tag).toBe(tag)
    expect(isKubeApiFailure(error)).toBe(true)
    expect(toStatus(Exit.fail(error)).code).toBe(code)
    expect(outcomeOfError(error._tag)).toBe(outcome)
  })

  it("names the verb and the request, with the server's reason and message", () => {
    const error = failure(
      "create",
      406,
      'admission webhook "webhook.cert-manager.io" denied the request: spec.usages[0]: Unsupported value: "x"',
    )
    expect(error.message).toBe(
      'Kubernetes API create CertificateRequest team-a/3f2a: HTTP 406 Reason: admission webhook "webhook.cert-manager.io" denied the request: spec.usages[0]: Unsupported value: "x"; change the volume attributes it refers to',
    )
    expect(failure("create", 0, "connect ECONNREFUSED").message).toContain(
      ": no response: connect ECONNREFUSED",
    )
  })

  it("keeps at most 1 KiB of the server's message", () => {
    const error = failure("create", 422, "field: ".repeat(10_000))
    expect(Buffer.byteLength(error.detail)).toBeLessThanOrEqual(1024)
    expect(error.detail).toMatch(/\(cut: 70,000 characters in all\)$/)
  })

  it("is not fooled by other errors", () => {
    expect(isKubeApiFailure(new Error("x"))).toBe(false)
    expect(isKubeApiFailure({ _tag: "RequestDenied" })).toBe(false)
  })
})

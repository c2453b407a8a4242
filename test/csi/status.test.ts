import { status as Code } from "@grpc/grpc-js"
import { Cause, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { InvalidAttributes } from "../../src/attributes/index.js"
import { InvalidRequest } from "../../src/csi/request.js"
import { toStatus } from "../../src/csi/status.js"
import { IssuancePending, KubeApiError, RequestDenied, RequestFailed } from "../../src/kube/errors.js"
import { CertificateInvalid } from "../../src/pki/index.js"
import { MountError, StorageError, TokenMissing, VolumeBusy } from "../../src/volume/errors.js"

const request = {
  namespace: "sandbox",
  name: "r1",
  issuer: "ca-issuer",
  reason: "Nope",
  detail: "policy says no",
}

describe("toStatus: typed errors → gRPC codes, in one place", () => {
  it.each([
    [
      new InvalidRequest({ problems: ["volume_id is required"] }),
      Code.INVALID_ARGUMENT,
      "volume_id is required",
    ],
    [
      new InvalidAttributes({
        problems: [{ attribute: "csi.cert-manager.io/issuer-name", message: "is required" }],
      }),
      Code.INVALID_ARGUMENT,
      "csi.cert-manager.io/issuer-name",
    ],
    [new TokenMissing(), Code.INVALID_ARGUMENT, "tokenRequests"],
    [new RequestDenied(request), Code.FAILED_PRECONDITION, "sandbox/r1 was denied (Nope): policy says no"],
    [new RequestFailed(request), Code.FAILED_PRECONDITION, "sandbox/r1 failed"],
    [
      new CertificateInvalid({ reason: "PublicKeyMismatch", message: "key mismatch" }),
      Code.FAILED_PRECONDITION,
      "key mismatch",
    ],
    [
      new IssuancePending({
        volumeId: "v",
        request: "sandbox/r1",
        issuer: "ca-issuer",
        conditions: "Approved=True",
      }),
      Code.DEADLINE_EXCEEDED,
      "sandbox/r1",
    ],
    [
      new KubeApiError({
        verb: "create",
        resource: "certificaterequests",
        status: 503,
        reason: "ServiceUnavailable",
        detail: "",
      }),
      Code.UNAVAILABLE,
      "HTTP 503 ServiceUnavailable",
    ],
    [new VolumeBusy({ volumeId: "v" }), Code.ABORTED, "still in progress"],
    [new StorageError({ operation: "write", path: "/x", reason: "ENOSPC" }), Code.INTERNAL, "/x: ENOSPC"],
    [new MountError({ operation: "mount", target: "/t", reason: "EPERM" }), Code.INTERNAL, "/t: EPERM"],
  ])("%s", (error, code, details) => {
    const status = toStatus(Exit.fail(error))
    expect(status.code).toBe(code)
    expect(status.details).toContain(details)
    expect(status.defect).toBe(false)
  })

  it("maps success to OK", () => {
    expect(toStatus(Exit.succeed(1)).code).toBe(Code.OK)
  })

  it("treats a defect as INTERNAL without leaking its text", () => {
    const status = toStatus(Exit.die(new Error("secret internals")))
    expect(status.code).toBe(Code.INTERNAL)
    expect(status.defect).toBe(true)
    expect(status.details).not.toContain("secret internals")
  })

  it("treats interruption as retryable", () => {
    expect(toStatus(Exit.failCause(Cause.interrupt())).code).toBe(Code.UNAVAILABLE)
  })

  it("keeps every status within 2 KiB, whatever the error's message", () => {
    const many = new InvalidRequest({ problems: Array.from({ length: 10_000 }, (_, i) => `problem ${i}`) })
    const listed = toStatus(Exit.fail(many)).details
    expect(Buffer.byteLength(listed)).toBeLessThanOrEqual(2048)
    expect(listed).toMatch(/^problem 0; problem 1; .*; and [\d,]+ more problems$/)
    const huge = new StorageError({ operation: "write", path: "/x".repeat(100_000), reason: "ENOSPC" })
    const cut = toStatus(Exit.fail(huge)).details
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(2048)
    expect(cut).toMatch(/ … \(cut: [\d,]+ characters in all\)$/)
  })
})

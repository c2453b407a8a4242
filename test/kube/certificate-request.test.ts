import { Result } from "effect"
import { describe, expect, it } from "vitest"
import {
  decodeCertificateRequest,
  describeConditions,
  outcomeOf,
} from "../../src/kube/certificate-request.js"

const base = {
  metadata: { name: "r", namespace: "ns" },
  spec: { issuerRef: { name: "ca-issuer" } },
}
const withConditions = (conditions: Array<Record<string, string>>, extra: Record<string, string> = {}) => {
  const decoded = decodeCertificateRequest({ ...base, status: { conditions, ...extra } })
  if (Result.isFailure(decoded)) throw new Error("does not decode")
  return decoded.success
}
const b64 = (text: string) => Buffer.from(text).toString("base64")

describe("outcomeOf follows cert-manager's conditions", () => {
  it("pending without conditions, and while only approved", () => {
    expect(outcomeOf(withConditions([]))._tag).toBe("Pending")
    expect(outcomeOf(withConditions([{ type: "Approved", status: "True" }]))._tag).toBe("Pending")
    expect(outcomeOf(withConditions([{ type: "Ready", status: "False", reason: "Pending" }]))._tag).toBe(
      "Pending",
    )
  })
  it("issued: Ready=True with a certificate, decoded from base64", () => {
    const outcome = outcomeOf(
      withConditions([{ type: "Ready", status: "True", reason: "Issued" }], {
        certificate: b64("CERT"),
        ca: b64("CA"),
      }),
    )
    expect(outcome).toEqual({ _tag: "Issued", certificatePem: "CERT", caPem: "CA" })
  })
  it("denied wins over anything else", () => {
    const outcome = outcomeOf(
      withConditions([
        { type: "Denied", status: "True", reason: "Policy", message: "no" },
        { type: "Ready", status: "False", reason: "Denied" },
      ]),
    )
    expect(outcome).toEqual({ _tag: "Denied", reason: "Policy", message: "no" })
  })
  it("failed: Ready=False reason Failed, or InvalidRequest", () => {
    expect(
      outcomeOf(withConditions([{ type: "Ready", status: "False", reason: "Failed", message: "boom" }])),
    ).toEqual({
      _tag: "Failed",
      reason: "Failed",
      message: "boom",
    })
    expect(
      outcomeOf(withConditions([{ type: "InvalidRequest", status: "True", reason: "BadCSR" }]))._tag,
    ).toBe("Failed")
  })
  it("describes conditions in one line", () => {
    expect(
      describeConditions(withConditions([{ type: "Approved", status: "True", reason: "cert-manager.io" }])),
    ).toBe("Approved=True (cert-manager.io)")
    expect(describeConditions(undefined)).toContain("no conditions yet")
  })
  it("a malformed object is a decode failure, not a crash", () => {
    expect(Result.isFailure(decodeCertificateRequest({ metadata: 3 }))).toBe(true)
    expect(Result.isFailure(decodeCertificateRequest(null))).toBe(true)
  })
})

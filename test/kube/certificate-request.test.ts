import { it as prop } from "@effect/vitest"
import { Result, Schema } from "effect"
import { describe, expect, it } from "vitest"
import {
  CertificateNotBase64,
  CertificateRequest,
  decodeCertificateRequest,
  describeConditions,
  IssuedWithoutCertificate,
  maxDescription,
  maxMessage,
  maxReason,
  outcomeOf,
} from "../../src/kube/certificate-request.js"
import { expectSameDecodes } from "../support/mutations.js"

const base = {
  metadata: { name: "r", namespace: "ns" },
  spec: { issuerRef: { name: "ca-issuer" } },
}
const withConditions = (
  conditions: ReadonlyArray<Readonly<Record<string, string | undefined>>>,
  extra: Readonly<Record<string, string | undefined>> = {},
) => {
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
  it("Ready=True without a certificate is a failure at once, not pending: cert-manager's Issued means the certificate is set", () => {
    for (const extra of [{}, { certificate: "" }, { certificate: "", ca: b64("CA") }]) {
      const outcome = outcomeOf(withConditions([{ type: "Ready", status: "True", reason: "Issued" }], extra))
      expect(outcome).toMatchObject({ _tag: "Failed", reason: IssuedWithoutCertificate })
      if (outcome._tag === "Failed") expect(outcome.message).toContain("status.certificate empty")
    }
    // Whatever the reason: Ready=True is final.
    expect(outcomeOf(withConditions([{ type: "Ready", status: "True", reason: "Pending" }]))._tag).toBe(
      "Failed",
    )
  })
  it("Ready=True with fields that are not base64 is a failure, not read leniently", () => {
    for (const extra of [
      { certificate: "not base64!" },
      { certificate: `${b64("CERT")}\n` },
      { certificate: "QUJD=" },
      { certificate: b64("CERT"), ca: "**" },
    ]) {
      const outcome = outcomeOf(withConditions([{ type: "Ready", status: "True", reason: "Issued" }], extra))
      expect(outcome).toMatchObject({ _tag: "Failed", reason: CertificateNotBase64 })
    }
  })
  it("cuts the issuer's reason and message, so messages built from them stay bounded", () => {
    const outcome = outcomeOf(
      withConditions([{ type: "Ready", status: "False", reason: "Failed", message: "x".repeat(100_000) }]),
    )
    expect(outcome._tag).toBe("Failed")
    if (outcome._tag === "Failed") expect(outcome.message.length).toBeLessThanOrEqual(maxMessage + 1)
    const denied = outcomeOf(withConditions([{ type: "Denied", status: "True", reason: "r".repeat(10_000) }]))
    if (denied._tag === "Denied") expect(denied.reason.length).toBeLessThanOrEqual(maxReason + 1)
    const many = Array.from({ length: 1000 }, (_, i) => ({
      type: `T${i}`.repeat(100),
      status: "True",
      message: "m".repeat(1000),
    }))
    const description = describeConditions(withConditions(many))
    expect(description.length).toBeLessThanOrEqual(maxDescription + 1)
    expect(description).toContain("and 995 more")
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

const Condition = Schema.Struct({
  type: Schema.Union([Schema.Literals(["Ready", "Denied", "InvalidRequest", "Approved"]), Schema.String]),
  status: Schema.Union([Schema.Literals(["True", "False", "Unknown"]), Schema.String]),
  reason: Schema.optional(
    Schema.Union([Schema.Literals(["Issued", "Pending", "Failed", "Denied"]), Schema.String]),
  ),
  message: Schema.optional(Schema.String),
})
const Field = Schema.optional(Schema.Union([Schema.Literals(["", "QUJD", "not base64"]), Schema.String]))

describe("outcomeOf, over any conditions", () => {
  prop.prop(
    "answers without throwing; Ready=True is never pending; what it passes on is bounded",
    { conditions: Schema.Array(Condition), certificate: Field, ca: Field },
    ({ conditions, certificate, ca }) => {
      const request = withConditions(conditions, { certificate, ca })
      const outcome = outcomeOf(request)
      const first = (type: string) => conditions.find((c) => c.type === type)
      const finished = first("Denied")?.status === "True" || first("InvalidRequest")?.status === "True"
      if (first("Ready")?.status === "True") expect(outcome._tag).not.toBe("Pending")
      if (outcome._tag === "Issued") {
        expect(finished).toBe(false)
        expect(certificate ?? "").not.toBe("")
      }
      if (outcome._tag === "Denied" || outcome._tag === "Failed") {
        expect(outcome.reason).not.toBe("")
        expect(outcome.reason.length).toBeLessThanOrEqual(maxReason + 1)
        expect(outcome.message.length).toBeLessThanOrEqual(maxMessage + 1)
      }
      expect(describeConditions(request).length).toBeLessThanOrEqual(maxDescription + 1)
    },
  )
})

describe("decodeCertificateRequest is the CertificateRequest Schema's decode", () => {
  const reference = Schema.decodeUnknownResult(CertificateRequest)
  const full = {
    apiVersion: "cert-manager.io/v1",
    kind: "CertificateRequest",
    metadata: {
      name: "r",
      namespace: "ns",
      uid: "u",
      resourceVersion: "7",
      labels: { "csi.cert-manager.io/volume-id-hash": "v", other: "o" },
      creationTimestamp: "2026-01-01T00:00:00Z",
      managedFields: [{ manager: "m" }],
    },
    spec: { request: "QUJD", issuerRef: { name: "i", kind: "Issuer", group: "cert-manager.io" } },
    status: {
      conditions: [
        { type: "Approved", status: "True", reason: "r", message: "m", lastTransitionTime: "t" },
        { type: "Ready", status: "False" },
      ],
      certificate: "QUJD",
      ca: "QUJD",
    },
  }
  it("over every one-step corruption of a full request: the same verdict, the same object", () => {
    expect(expectSameDecodes(full, decodeCertificateRequest, reference)).toBeGreaterThan(400)
  })
})

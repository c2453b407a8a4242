import { Duration } from "effect"
import { describe, expect, it } from "vitest"
import { jitterBound, renewalTime } from "../../src/volume/renewal-time.js"

const day = 86_400_000
const validity = { notBefore: new Date(0), notAfter: new Date(90 * day) }

describe("renewalTime", () => {
  it("defaults to two thirds of the lifetime", () => {
    expect(renewalTime(validity, undefined, 0).getTime()).toBe(60 * day)
  })
  it("honours renew-before", () => {
    expect(renewalTime(validity, Duration.days(10), 0).getTime()).toBe(80 * day)
  })
  it("falls back to two thirds when the issuer shortened the lifetime below renew-before", () => {
    expect(
      renewalTime({ notBefore: new Date(0), notAfter: new Date(day) }, Duration.days(2), 0).getTime(),
    ).toBe((2 * day) / 3)
  })
  it("brings renewal forward by at most the jitter bound (2% of lifetime, at most 10 minutes)", () => {
    const bound = jitterBound(validity)
    expect(bound).toBe(10 * 60_000)
    const earliest = renewalTime(validity, undefined, 0.999_999).getTime()
    expect(60 * day - earliest).toBeLessThanOrEqual(bound)
    expect(60 * day - earliest).toBeGreaterThan(bound * 0.99)
    const short = { notBefore: new Date(0), notAfter: new Date(120_000) }
    expect(jitterBound(short)).toBe(2_400)
    expect(renewalTime(short, Duration.seconds(90), 0.5).getTime()).toBe(30_000 - 1_200)
  })
  it("never before the certificate starts", () => {
    expect(renewalTime(validity, Duration.days(89.9999), 0.999).getTime()).toBeGreaterThanOrEqual(0)
  })
})

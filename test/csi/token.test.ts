import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import { ServiceAccountTokensKey } from "../../src/attributes/keys.js"
import { decodePublish } from "../../src/csi/request.js"
import { parseRfc3339, tokenFor, tokenOf } from "../../src/csi/token.js"
import { attributesWith } from "../volume/programs-support.js"
import { rawPublishRequest } from "./support.js"

const secret = "s3cret-t0ken"
const inAnHour = "2030-01-01T01:00:00Z"
const lookup = (raw: string) => tokenOf({ [ServiceAccountTokensKey]: raw }, {})
const problemOf = (raw: string) => {
  const found = lookup(raw)
  if (found._tag !== "Invalid") throw new Error(`expected a problem, got ${found._tag}`)
  return found.problem
}

describe("parseRfc3339", () => {
  it.each([
    ["2030-01-01T00:00:00Z", Date.UTC(2030, 0, 1)],
    ["2030-01-01t00:00:00z", Date.UTC(2030, 0, 1)],
    ["2024-02-29T12:30:45.123456789+02:00", Date.UTC(2024, 1, 29, 10, 30, 45, 123)],
    ["2030-12-31T23:59:59-08:00", Date.UTC(2031, 0, 1, 7, 59, 59)],
  ])("reads %s", (text, millis) => {
    expect(parseRfc3339(text)?.getTime()).toBe(millis)
  })

  it.each([
    "yesterday",
    "",
    "2030-01-01",
    "2030-01-01 00:00:00Z",
    "2030-01-01T00:00:00",
    "2023-02-29T00:00:00Z",
    "2030-02-30T00:00:00Z",
    "2030-13-01T00:00:00Z",
    "2030-01-01T24:00:00Z",
    "2030-01-01T23:60:00Z",
    "2030-01-01T23:59:60Z",
    "2030-01-01T00:00:00+24:00",
    "1700000000",
  ])("refuses %j, as Go's time.RFC3339 does", (text) => {
    expect(parseRfc3339(text)).toBeUndefined()
  })
})

describe("tokenOf", () => {
  it("finds the API server audience's token, redacted, with its expiry", () => {
    const found = lookup(
      JSON.stringify({
        "": { token: secret, expirationTimestamp: inAnHour },
        vault: { token: "other", expirationTimestamp: inAnHour },
      }),
    )
    if (found._tag !== "Found") throw new Error(found._tag)
    expect(Redacted.value(found.token.token)).toBe(secret)
    expect(found.token.expiresAt?.toISOString()).toBe("2030-01-01T01:00:00.000Z")
    expect(JSON.stringify(found)).not.toContain(secret)
  })

  it("prefers secrets over volume_context, as newer kubelets send it there", () => {
    const tokens = (token: string) => JSON.stringify({ "": { token, expirationTimestamp: inAnHour } })
    const found = tokenOf(
      { [ServiceAccountTokensKey]: tokens("old") },
      { [ServiceAccountTokensKey]: tokens("new") },
    )
    expect(found._tag === "Found" && Redacted.value(found.token.token)).toBe("new")
  })

  it("absent or empty is Absent", () => {
    expect(tokenOf({}, {})._tag).toBe("Absent")
    expect(lookup("")._tag).toBe("Absent")
  })

  it.each([
    ["not JSON", `${secret}`, "is not JSON"],
    ["an array", `["${secret}"]`, "is not a JSON object of audiences"],
    ["a string", JSON.stringify(secret), "is not a JSON object of audiences"],
    ["null", "null", "is not a JSON object of audiences"],
    ["an entry that is a string", JSON.stringify({ "": secret }), 'audience "": is not an object'],
    [
      "an empty token",
      JSON.stringify({ "": { token: "", expirationTimestamp: inAnHour } }),
      'audience "": token is empty',
    ],
    [
      "a token that is a number",
      JSON.stringify({ "": { token: 42, expirationTimestamp: inAnHour } }),
      "token is missing or not a string",
    ],
    [
      "a token with a newline",
      JSON.stringify({ "": { token: `${secret}\nX-Injected: 1`, expirationTimestamp: inAnHour } }),
      "token has characters a bearer token cannot carry",
    ],
    [
      "no expiry",
      JSON.stringify({ "": { token: secret } }),
      'audience "": expirationTimestamp is not an RFC 3339 time',
    ],
    [
      "a bad expiry",
      JSON.stringify({ "": { token: secret, expirationTimestamp: "2030-02-30T00:00:00Z" } }),
      "expirationTimestamp is not an RFC 3339 time",
    ],
    [
      "a bad entry for another audience",
      JSON.stringify({
        "": { token: secret, expirationTimestamp: inAnHour },
        vault: { token: "", expirationTimestamp: "soon" },
      }),
      'audience "vault": token is empty and expirationTimestamp is not an RFC 3339 time',
    ],
    [
      "no API server audience",
      JSON.stringify({ vault: { token: secret, expirationTimestamp: inAnHour } }),
      'add {audience: ""} to tokenRequests',
    ],
  ])("refuses %s, naming the key and never the token", (_name, raw, expected) => {
    const problem = problemOf(raw)
    expect(problem.startsWith(`${ServiceAccountTokensKey} `)).toBe(true)
    expect(problem).toContain(expected)
    expect(problem).not.toContain(secret)
    expect(problem).not.toContain("2030-02-30")
  })

  it("thousands of bad audiences: the first three, then a count", () => {
    const raw = JSON.stringify(
      Object.fromEntries(
        Array.from({ length: 5000 }, (_, i) => [`aud-${i}`, { token: secret, expirationTimestamp: "" }]),
      ),
    )
    const problem = problemOf(raw)
    expect(problem).toContain('audience "aud-2": expirationTimestamp')
    expect(problem).toContain("; and 4,997 more audiences")
    expect(problem).not.toContain("aud-3")
    expect(Buffer.byteLength(problem)).toBeLessThan(1024)
  })
})

describe("tokenFor", () => {
  it("without --use-token-request the value is not read, whatever it holds", () => {
    expect(tokenFor({ [ServiceAccountTokensKey]: "not json" }, {}, false)._tag).toBe("Absent")
    const good = JSON.stringify({ "": { token: secret, expirationTimestamp: inAnHour } })
    expect(tokenFor({ [ServiceAccountTokensKey]: good }, {}, false)._tag).toBe("Absent")
    expect(tokenFor({ [ServiceAccountTokensKey]: good }, {}, true)._tag).toBe("Found")
  })
})

describe("decodePublish with tokens", () => {
  const request = (tokens: string) =>
    rawPublishRequest(attributesWith(), { secrets: { [ServiceAccountTokensKey]: tokens } })
  const call = { method: "NodePublishVolume", deadline: undefined }
  const malformed = JSON.stringify({ "": { token: secret, expirationTimestamp: "tomorrow" } })

  it("with --use-token-request, a malformed value is an InvalidRequest naming the key", () => {
    const exit = Effect.runSyncExit(
      decodePublish(request(malformed), call, "/csi-data-dir", { useTokenRequest: true }),
    )
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Effect.runSync(
      Effect.flip(decodePublish(request(malformed), call, "/csi-data-dir", { useTokenRequest: true })),
    )
    expect(error.message).toContain(ServiceAccountTokensKey)
    expect(error.message).not.toContain(secret)
  })

  it("without it, the same request decodes and carries no token", () => {
    const decoded = Effect.runSync(
      decodePublish(request(malformed), call, "/csi-data-dir", { useTokenRequest: false }),
    )
    expect(decoded.token).toBeUndefined()
    expect(JSON.stringify(decoded.attributes)).not.toContain(secret)
  })
})

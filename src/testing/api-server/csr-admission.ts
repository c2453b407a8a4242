/**
 * cert-manager's webhook check of a CertificateRequest's CSR against its spec, in our own
 * words. The CSR must decode. When `spec.usages` is set, is not exactly the default pair
 * (digital signature, key encipherment, in that order) and the CSR requests extensions,
 * the usages the CSR asks for must equal `spec.usages` (with `cert sign` added for
 * `spec.isCA`) or the default pair: compared as multisets, "signing" counted as
 * "digital signature". A CSR that asks for no usages at all passes.
 */
import { Result } from "effect"
import { defaultUsages, usageNamesOf } from "../../pki/usages.js"
import { parseRequest, requestedUsages } from "../issuer/csr-usages.js"
import type { JsonObject } from "./objects.js"
import type { StatusCause } from "./status.js"

/** How Go's `%#v` prints the `[]byte` the request decodes to, as the field error shows it. */
const goBytes = (bytes: Uint8Array): string =>
  `[]byte{${Array.from(bytes, (b) => `0x${b.toString(16)}`).join(", ")}}`

const requestCause = (request: string, detail: string): StatusCause => ({
  reason: "FieldValueInvalid",
  field: "spec.request",
  message: `Invalid value: ${goBytes(Buffer.from(request, "base64"))}: ${detail}`,
})

/** "signing" and "digital signature" are one X.509 bit: keep the first as "digital signature". */
const mergeSigning = (usages: ReadonlyArray<string>): ReadonlyArray<string> => {
  let seen = false
  return usages.flatMap((u) => {
    if (u !== "signing" && u !== "digital signature") return [u]
    if (seen) return []
    seen = true
    return ["digital signature"]
  })
}

const sameMultiset = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean => {
  const x = [...mergeSigning(a)].sort()
  const y = [...mergeSigning(b)].sort()
  return x.length === y.length && x.every((u, i) => u === y[i])
}

/** The differences as cert-manager's message lists them (kr/pretty's Diff of the two lists). */
const describeDifference = (csr: ReadonlyArray<string>, spec: ReadonlyArray<string>): string => {
  const a = mergeSigning(csr)
  const b = mergeSigning(spec)
  const lines =
    a.length !== b.length
      ? [`[]certmanager.KeyUsage[${a.length}] != []certmanager.KeyUsage[${b.length}]`]
      : a.flatMap((u, i) => (u === b[i] ? [] : [`[${i}]: ${JSON.stringify(u)} != ${JSON.stringify(b[i])}`]))
  return `[${lines.join(" ")}]`
}

const isDefaultPair = (usages: ReadonlyArray<unknown>): boolean =>
  usages.length === defaultUsages.length && usages.every((u, i) => u === defaultUsages[i])

/** The field errors cert-manager's webhook finds in `spec.request`; none when it is absent. */
export const csrCauses = (spec: JsonObject): ReadonlyArray<StatusCause> => {
  const request = spec.request
  if (typeof request !== "string" || request === "") return []
  const parsed = parseRequest(request)
  if (Result.isFailure(parsed)) return [requestCause(request, `failed to decode csr: ${parsed.failure}`)]
  const usages = Array.isArray(spec.usages) ? spec.usages.filter((u) => typeof u === "string") : []
  if (usages.length === 0 || parsed.success.extensions.length === 0 || isDefaultPair(usages)) return []
  const expected = spec.isCA === true && !usages.includes("cert sign") ? [...usages, "cert sign"] : usages
  const asked = requestedUsages(parsed.success)
  if (Result.isFailure(asked)) return [requestCause(request, asked.failure)]
  const csrUsages = usageNamesOf(asked.success.keyUsage ?? 0, asked.success.extKeyUsages ?? [])
  if (csrUsages.length === 0 || sameMultiset(csrUsages, expected) || sameMultiset(csrUsages, defaultUsages))
    return []
  return [
    requestCause(
      request,
      `csr key usages do not match specified usages, these should match if both are set: ${describeDifference(csrUsages, expected)}`,
    ),
  ]
}

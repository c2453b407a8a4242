/**
 * Reads the pod's service-account token that kubelet passes when the CSIDriver has
 * `tokenRequests`: JSON `{"<audience>": {"token", "expirationTimestamp"}}` under
 * `csi.storage.k8s.io/serviceAccount.tokens`, in `volume_context` or, on newer
 * kubelets, in `secrets`. Only the API server audience ("") can create requests.
 */
import { Option, Redacted, Result, Schema } from "effect"
import { ServiceAccountTokensKey } from "../attributes/keys.js"

export interface ServiceAccountToken {
  readonly token: Redacted.Redacted<string>
  readonly expiresAt: Date | undefined
}

export type TokenLookup =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Found"; readonly token: ServiceAccountToken }
  | { readonly _tag: "Invalid"; readonly problem: string }

const Tokens = Schema.fromJsonString(
  Schema.Record(
    Schema.String,
    Schema.Struct({
      token: Schema.String,
      expirationTimestamp: Schema.optional(Schema.String),
    }),
  ),
)
const decodeTokens = Schema.decodeUnknownResult(Tokens)

export const tokenOf = (
  context: Readonly<Record<string, string>>,
  secrets: Readonly<Record<string, string>>,
): TokenLookup => {
  const raw = secrets[ServiceAccountTokensKey] ?? context[ServiceAccountTokensKey]
  if (raw === undefined || raw === "") return { _tag: "Absent" }
  const decoded = decodeTokens(raw)
  if (Result.isFailure(decoded)) {
    // The decoder's message could quote the token: say only where the problem is.
    return {
      _tag: "Invalid",
      problem: `${ServiceAccountTokensKey} is not the JSON kubelet writes for tokenRequests`,
    }
  }
  const entry = Option.fromNullishOr(decoded.success[""])
  if (Option.isNone(entry)) {
    return {
      _tag: "Invalid",
      problem: `${ServiceAccountTokensKey} has no token for the API server audience: add {audience: ""} to tokenRequests on the CSIDriver`,
    }
  }
  const expires = entry.value.expirationTimestamp
  const expiresAt = expires === undefined ? undefined : new Date(expires)
  return {
    _tag: "Found",
    token: {
      token: Redacted.make(entry.value.token),
      expiresAt: expiresAt !== undefined && Number.isNaN(expiresAt.getTime()) ? undefined : expiresAt,
    },
  }
}

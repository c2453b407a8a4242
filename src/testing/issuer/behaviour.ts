/**
 * How the sandbox issuer answers a CertificateRequest, chosen by `spec.issuerRef.name`:
 * sign (now or after a delay), deny, fail, never answer, or answer Ready with a
 * certificate that does not parse. Unknown names never answer, like an issuer that
 * does not exist.
 */
import type { Duration } from "effect"

export type IssuerBehaviour =
  | { readonly _tag: "Sign"; readonly delay?: Duration.Input }
  | { readonly _tag: "Deny"; readonly reason?: string; readonly message?: string }
  | { readonly _tag: "Fail"; readonly message?: string }
  | { readonly _tag: "Pending" }
  | { readonly _tag: "Malformed" }

export const IssuerBehaviour = {
  /** Approve, then sign at once: Ready=True, reason Issued. */
  sign: (): IssuerBehaviour => ({ _tag: "Sign" }),
  /** Approve, Ready=False (Pending) for `delay`, then sign. */
  signAfter: (delay: Duration.Input): IssuerBehaviour => ({ _tag: "Sign", delay }),
  /** Deny (Denied=True), then Ready=False reason Denied. */
  deny: (reason?: string, message?: string): IssuerBehaviour => ({
    _tag: "Deny",
    ...(reason === undefined ? {} : { reason }),
    ...(message === undefined ? {} : { message }),
  }),
  /** Approve, then Ready=False reason Failed with `status.failureTime`. */
  fail: (message?: string): IssuerBehaviour => ({
    _tag: "Fail",
    ...(message === undefined ? {} : { message }),
  }),
  /** Approve, then Ready=False reason Pending forever. */
  pending: (): IssuerBehaviour => ({ _tag: "Pending" }),
  /** Approve, then Ready=True with garbage in `status.certificate`. */
  malformed: (): IssuerBehaviour => ({ _tag: "Malformed" }),
} as const

/** The issuers every sandbox starts with. */
export const defaultBehaviours: Readonly<Record<string, IssuerBehaviour>> = {
  "ca-issuer": IssuerBehaviour.sign(),
  "slow-issuer": IssuerBehaviour.signAfter("5 seconds"),
  "deny-issuer": IssuerBehaviour.deny(),
  "fail-issuer": IssuerBehaviour.fail(),
  "malformed-issuer": IssuerBehaviour.malformed(),
}

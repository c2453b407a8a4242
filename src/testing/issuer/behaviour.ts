/**
 * How the sandbox issuer answers a CertificateRequest, chosen by `spec.issuerRef.name`:
 * sign (now or after a delay, by the CA itself or through an intermediate), deny,
 * fail, never answer, or answer Ready with something the driver must refuse. Unknown
 * names never answer, like an issuer that does not exist.
 *
 * The issuers every sandbox starts with (`defaultBehaviours`):
 *
 * | issuer                     | answer                                                                  |
 * | -------------------------- | ----------------------------------------------------------------------- |
 * | `ca-issuer`                | signs at once                                                           |
 * | `slow-issuer`              | signs after 5 seconds                                                   |
 * | `intermediate-issuer`      | signs with an intermediate CA: leaf + intermediate, `status.ca` = root  |
 * | `deny-issuer`              | denies                                                                  |
 * | `fail-issuer`              | fails (Ready=False, reason Failed)                                      |
 * | `malformed-issuer`         | Ready=True, PEM armour around bytes that are not a certificate          |
 * | `expired-issuer`           | Ready=True, a certificate that expired a day ago                        |
 * | `not-yet-valid-issuer`     | Ready=True, a certificate valid from a day ahead                        |
 * | `wrong-ca-issuer`          | Ready=True, signed by another CA than the one in `status.ca`            |
 * | `trailing-data-issuer`     | Ready=True, text after the PEM block                                    |
 * | `junk-between-issuer`      | Ready=True, text between the leaf's block and the CA's                  |
 * | `empty-certificate-issuer` | Ready=True, `status.certificate` empty                                  |
 * | `not-a-certificate-issuer` | Ready=True, the leaf followed by a PRIVATE KEY block                    |
 */
import type { Duration } from "effect"

/** Answers that are Ready=True but unusable: what a broken or hostile issuer might send. */
export type BadAnswer =
  | "expired"
  | "not-yet-valid"
  | "wrong-ca"
  | "trailing-data"
  | "junk-between-blocks"
  | "empty-certificate"
  | "not-a-certificate"

export type IssuerBehaviour =
  | {
      readonly _tag: "Sign"
      readonly delay?: Duration.Input
      /** Sign with an intermediate CA that the sandbox CA signed. */
      readonly viaIntermediate?: boolean
    }
  | { readonly _tag: "Deny"; readonly reason?: string; readonly message?: string }
  | { readonly _tag: "Fail"; readonly message?: string }
  | { readonly _tag: "Pending" }
  | { readonly _tag: "Malformed" }
  | { readonly _tag: "BadAnswer"; readonly answer: BadAnswer }

export const IssuerBehaviour = {
  /** Approve, then sign at once: Ready=True, reason Issued. */
  sign: (): IssuerBehaviour => ({ _tag: "Sign" }),
  /** Approve, Ready=False (Pending) for `delay`, then sign. */
  signAfter: (delay: Duration.Input): IssuerBehaviour => ({ _tag: "Sign", delay }),
  /** Approve, then sign with an intermediate CA: the leaf and the intermediate in `status.certificate`, the root in `status.ca`. */
  signViaIntermediate: (): IssuerBehaviour => ({ _tag: "Sign", viaIntermediate: true }),
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
  /** Approve, then Ready=True with one of the unusable answers. */
  badAnswer: (answer: BadAnswer): IssuerBehaviour => ({ _tag: "BadAnswer", answer }),
} as const

/** The issuer name each bad answer has in every sandbox. */
export const badAnswerIssuers: Readonly<Record<BadAnswer, string>> = {
  expired: "expired-issuer",
  "not-yet-valid": "not-yet-valid-issuer",
  "wrong-ca": "wrong-ca-issuer",
  "trailing-data": "trailing-data-issuer",
  "junk-between-blocks": "junk-between-issuer",
  "empty-certificate": "empty-certificate-issuer",
  "not-a-certificate": "not-a-certificate-issuer",
}

/** The issuers every sandbox starts with (see the table above). */
export const defaultBehaviours: Readonly<Record<string, IssuerBehaviour>> = {
  "ca-issuer": IssuerBehaviour.sign(),
  "slow-issuer": IssuerBehaviour.signAfter("5 seconds"),
  "intermediate-issuer": IssuerBehaviour.signViaIntermediate(),
  "deny-issuer": IssuerBehaviour.deny(),
  "fail-issuer": IssuerBehaviour.fail(),
  "malformed-issuer": IssuerBehaviour.malformed(),
  ...Object.fromEntries(
    Object.entries(badAnswerIssuers).map(([answer, name]) => [
      name,
      IssuerBehaviour.badAnswer(answer as BadAnswer),
    ]),
  ),
}

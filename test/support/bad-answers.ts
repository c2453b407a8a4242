/** The sandbox issuers that answer Ready=True with something unusable, and what the driver says about each. */
import { badAnswerIssuers } from "../../src/testing/issuer/behaviour.js"

/** [issuer, error tag, the reason the message names] */
export const expectedRefusals: ReadonlyArray<readonly [issuer: string, tag: string, reason: string]> = [
  [badAnswerIssuers.expired, "CertificateInvalid", "Expired"],
  [badAnswerIssuers["not-yet-valid"], "CertificateInvalid", "NotYetValid"],
  [badAnswerIssuers["wrong-ca"], "CertificateInvalid", "UntrustedChain"],
  [badAnswerIssuers["trailing-data"], "CertificateInvalid", "ExtraData"],
  [badAnswerIssuers["junk-between-blocks"], "CertificateInvalid", "ExtraData"],
  [badAnswerIssuers["not-a-certificate"], "CertificateInvalid", "NotCertificate"],
  [badAnswerIssuers["empty-certificate"], "RequestFailed", "IssuedWithoutCertificate"],
  ["malformed-issuer", "CertificateInvalid", "Unparsable"],
]

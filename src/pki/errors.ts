/**
 * The typed failures of the PKI layer. Every message is safe to log and to show
 * in a pod event: none ever carries key material, a password or a PEM body.
 */
import { Schema } from "effect"

/** A private key could not be generated, or an existing one is unusable for the spec. */
export class KeyError extends Schema.TaggedError<KeyError>()("KeyError", {
  reason: Schema.Literals(["UnsupportedSpec", "GenerationFailed", "Unreadable", "SpecMismatch"]),
  message: Schema.String,
}) {}

/** The certificate signing request could not be built from the spec. */
export class CsrError extends Schema.TaggedError<CsrError>()("CsrError", {
  reason: Schema.Literals(["InvalidSubject", "InvalidSan", "SigningFailed"]),
  message: Schema.String,
}) {}

/** The PKCS#12 keystore could not be written. */
export class Pkcs12Error extends Schema.TaggedError<Pkcs12Error>()("Pkcs12Error", {
  reason: Schema.Literals(["InvalidCertificate", "InvalidKey", "InvalidPassword", "EncodingFailed"]),
  message: Schema.String,
}) {}

/** What the issuer handed back is unusable: not PEM, not a certificate, or not for our key. */
export class CertificateInvalid extends Schema.TaggedError<CertificateInvalid>()("CertificateInvalid", {
  reason: Schema.Literals(["Empty", "Unparsable", "CaUnparsable", "PublicKeyMismatch"]),
  message: Schema.String,
}) {}

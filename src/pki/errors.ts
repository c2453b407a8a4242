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

/**
 * What the issuer handed back is unusable: not PEM certificates only, not for our
 * key, not valid now, or not signed by the CA it names.
 */
export class CertificateInvalid extends Schema.TaggedError<CertificateInvalid>()("CertificateInvalid", {
  reason: Schema.Literals([
    /** `status.certificate` is empty or blank. */
    "Empty",
    /** Text other than whitespace before, between or after the PEM blocks. */
    "ExtraData",
    /** A PEM block that is not CERTIFICATE (a key, a CSR, …). */
    "NotCertificate",
    /** Broken PEM armour, non-canonical base64, or not exactly one DER certificate. */
    "Unparsable",
    "TooManyCertificates",
    /** `status.ca` is not CERTIFICATE blocks only; the message says how. */
    "CaUnparsable",
    "PublicKeyMismatch",
    /** notAfter is not in the future. */
    "Expired",
    /** notBefore is more than the allowed clock skew ahead. */
    "NotYetValid",
    /** The leaf does not chain to `status.ca` through the intermediates given. */
    "UntrustedChain",
  ]),
  message: Schema.String,
}) {}

/**
 * The sandbox's certificate authority: generated at start (ECDSA P-256, ten years) or
 * loaded from PEM, able to sign leaf certificates for the issuer and the HTTPS serving
 * certificate of the API server. Loading (once) uses @peculiar/x509 over node's
 * WebCrypto; it also works out the `CaSigner` that issuing (per request) runs on, which
 * encodes DER directly and signs with node's crypto.
 */
import "reflect-metadata"
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  webcrypto,
} from "node:crypto"
import { isIP } from "node:net"
import * as x509 from "@peculiar/x509"
import { Clock, Data, Effect, Redacted } from "effect"
import { algorithm, nullValue, oid, pem, printableString, sequence, setOf } from "../../pki/der.js"
import { KeyUsageBits } from "../../pki/usages.js"
import { keyIdentifier, readCertificate } from "./certificate-reader.js"
import { type CaSigner, type LeafRequest, signLeafDer } from "./leaf-certificate.js"

export type { CaSigner, LeafRequest } from "./leaf-certificate.js"

export const crypto: webcrypto.Crypto = webcrypto

type CryptoKey = webcrypto.CryptoKey
type SigningAlgorithm = webcrypto.Algorithm | webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams

export class CaError extends Data.TaggedError("CaError")<{
  readonly reason: string
  readonly cause?: unknown
}> {}

/** A CA given to the sandbox: its certificate and private key (PKCS#8, SEC1 or PKCS#1 PEM). */
export interface CaInput {
  readonly certificatePem: string
  readonly privateKeyPem: Redacted.Redacted<string> | string
}

export interface CertificateAuthority {
  readonly certificatePem: string
  readonly certificate: x509.X509Certificate
  readonly privateKey: CryptoKey
  readonly signingAlgorithm: SigningAlgorithm
  /** Self-signed roots are left out of the chain in `status.certificate`. */
  readonly selfSigned: boolean
  /** Everything issuing a leaf needs, precomputed. */
  readonly signer: CaSigner
}

const hourMs = 3_600_000

const tryCrypto = <A>(reason: string, f: () => Promise<A>): Effect.Effect<A, CaError> =>
  Effect.tryPromise({ try: f, catch: (cause) => new CaError({ reason, cause }) })

/** A fresh positive 128-bit serial, hex. */
export const randomSerial = (): string => {
  const bytes = randomBytes(16)
  bytes[0] = bytes[0]! & 0x7f
  return bytes.toString("hex")
}

/** How a CA key signs: for @peculiar/x509 (WebCrypto) and for node's crypto. */
interface CaAlgorithm {
  readonly importAlg: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm
  readonly signingAlgorithm: SigningAlgorithm
  readonly hash: string | null
  readonly algorithm: Uint8Array
}

const ecAlgorithm = (curve: string, hash: string, sigOid: string): CaAlgorithm => ({
  importAlg: { name: "ECDSA", namedCurve: curve },
  signingAlgorithm: { name: "ECDSA", hash: `SHA-${hash.slice(3)}` },
  hash,
  algorithm: algorithm(sigOid),
})

const ecAlgorithms: Record<string, CaAlgorithm> = {
  prime256v1: ecAlgorithm("P-256", "sha256", "1.2.840.10045.4.3.2"),
  secp384r1: ecAlgorithm("P-384", "sha384", "1.2.840.10045.4.3.3"),
  secp521r1: ecAlgorithm("P-521", "sha512", "1.2.840.10045.4.3.4"),
}

const rsaAlgorithm: CaAlgorithm = {
  importAlg: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  hash: "sha256",
  algorithm: algorithm("1.2.840.113549.1.1.11", nullValue()),
}

const ed25519Algorithm: CaAlgorithm = {
  importAlg: { name: "Ed25519" },
  signingAlgorithm: { name: "Ed25519" },
  hash: null,
  algorithm: algorithm("1.3.101.112"),
}

const caAlgorithmOf = (key: KeyObject): CaAlgorithm | CaError => {
  const keyType = key.asymmetricKeyType
  if (keyType === "ec") {
    return (
      ecAlgorithms[key.asymmetricKeyDetails?.namedCurve ?? ""] ??
      new CaError({ reason: "unsupported EC curve for the CA key" })
    )
  }
  if (keyType === "rsa") return rsaAlgorithm
  if (keyType === "ed25519") return ed25519Algorithm
  return new CaError({ reason: `unsupported CA key type ${String(keyType)}` })
}

/** The fast path's view of a CA: its raw subject, key identifier and node signing key. */
const signerFor = (
  certificate: x509.X509Certificate,
  key: KeyObject,
  alg: CaAlgorithm,
): Effect.Effect<CaSigner, CaError> => {
  const fields = readCertificate(new Uint8Array(certificate.rawData))
  // without a SubjectKeyIdentifier, leaves name the CA by the identifier of its key
  const keyId =
    fields === undefined
      ? undefined
      : (fields.subjectKeyIdentifier ?? keyIdentifier(fields.subjectPublicKeyInfo))
  if (fields === undefined || keyId === undefined)
    return Effect.fail(new CaError({ reason: "the CA certificate cannot be read" }))
  return Effect.succeed({
    key,
    hash: alg.hash,
    algorithm: alg.algorithm,
    issuer: fields.subject,
    keyIdentifier: keyId,
    notAfter: certificate.notAfter,
  })
}

/** Generates a self-signed ECDSA P-256 CA. */
export const generateCa = (
  commonName = "cert-manager-csi-driver sandbox CA",
): Effect.Effect<CertificateAuthority, CaError> =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const alg = ecAlgorithms.prime256v1!
    const pair = yield* Effect.try({
      try: () => generateKeyPairSync("ec", { namedCurve: "prime256v1" }),
      catch: (cause) => new CaError({ reason: "generate CA key", cause }),
    })
    const keys = yield* Effect.try({
      try: () => ({
        privateKey: pair.privateKey.toCryptoKey(alg.importAlg, false, ["sign"]),
        publicKey: pair.publicKey.toCryptoKey(alg.importAlg, true, ["verify"]),
      }),
      catch: (cause) => new CaError({ reason: "generate CA key", cause }),
    })
    const signingAlgorithm = { ...alg.importAlg, ...alg.signingAlgorithm }
    const certificate = yield* tryCrypto("self-sign CA", async () =>
      x509.X509CertificateGenerator.createSelfSigned(
        {
          serialNumber: randomSerial(),
          name: `CN=${commonName}, O=cert-manager-csi-driver`,
          notBefore: new Date(now - hourMs),
          notAfter: new Date(now + 10 * 365 * 24 * hourMs),
          keys,
          signingAlgorithm,
          extensions: [
            new x509.BasicConstraintsExtension(true, undefined, true),
            new x509.KeyUsagesExtension(
              x509.KeyUsageFlags.keyCertSign |
                x509.KeyUsageFlags.cRLSign |
                x509.KeyUsageFlags.digitalSignature,
              true,
            ),
            await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
          ],
        },
        crypto,
      ),
    )
    return {
      certificatePem: certificate.toString("pem"),
      certificate,
      privateKey: keys.privateKey,
      signingAlgorithm,
      selfSigned: true,
      signer: yield* signerFor(certificate, pair.privateKey, alg),
    }
  })

/** Loads a CA from PEM, checking that the key belongs to the certificate and may sign. */
export const loadCa = (input: CaInput): Effect.Effect<CertificateAuthority, CaError> =>
  Effect.gen(function* () {
    const keyPem =
      typeof input.privateKeyPem === "string" ? input.privateKeyPem : Redacted.value(input.privateKeyPem)
    const certificate = yield* Effect.try({
      try: () => new x509.X509Certificate(input.certificatePem),
      catch: (cause) => new CaError({ reason: "the CA certificate is not a PEM certificate", cause }),
    })
    const keyObject = yield* Effect.try({
      try: () => createPrivateKey(keyPem),
      // the cause could quote key material: keep only the reason
      catch: () => new CaError({ reason: "the CA private key is not a PEM private key" }),
    })
    const alg = caAlgorithmOf(keyObject)
    if (alg instanceof CaError) return yield* alg
    const spkiOfKey = createPublicKey(keyObject).export({ type: "spki", format: "der" })
    if (!Buffer.from(certificate.publicKey.rawData).equals(spkiOfKey)) {
      return yield* new CaError({ reason: "the CA private key does not match the CA certificate" })
    }
    const privateKey = yield* Effect.try({
      try: () => keyObject.toCryptoKey(alg.importAlg, false, ["sign"]),
      catch: (cause) => new CaError({ reason: "import the CA key", cause }),
    })
    const basic = certificate.getExtension(x509.BasicConstraintsExtension)
    if (basic === null || !basic.ca) {
      return yield* new CaError({
        reason: "the CA certificate is not a CA (basicConstraints CA:TRUE is missing)",
      })
    }
    const selfSigned = yield* tryCrypto("check the CA signature", () => certificate.isSelfSigned(crypto))
    return {
      certificatePem: certificate.toString("pem"),
      certificate,
      privateKey,
      signingAlgorithm: alg.signingAlgorithm,
      selfSigned,
      signer: yield* signerFor(certificate, keyObject, alg),
    }
  })

/** Signs a certificate with the CA (DER); notAfter is capped at the CA's own notAfter. */
export const signLeaf = (ca: CertificateAuthority, req: LeafRequest): Effect.Effect<Uint8Array, CaError> =>
  Effect.mapError(signLeafDer(ca.signer, req), (e) => new CaError({ reason: e.reason, cause: e.cause }))

export interface ServingCertificate {
  readonly certificatePem: string
  readonly privateKeyPem: Redacted.Redacted<string>
}

const kubeApiserverName = sequence(setOf([sequence(oid("2.5.4.3"), printableString("kube-apiserver"))]))

/** A TLS server certificate for the given host names and IPs (plus localhost, 127.0.0.1, ::1). */
export const issueServingCertificate = (
  ca: CertificateAuthority,
  hosts: ReadonlyArray<string>,
): Effect.Effect<ServingCertificate, CaError> =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const keys = yield* Effect.try({
      try: () => generateKeyPairSync("ec", { namedCurve: "prime256v1" }),
      catch: (cause) => new CaError({ reason: "generate serving key", cause }),
    })
    const names = [...new Set(["localhost", "127.0.0.1", "::1", ...hosts])]
    const san = new x509.SubjectAlternativeNameExtension(
      names.map((n) =>
        isIP(n) === 0 ? { type: "dns" as const, value: n } : { type: "ip" as const, value: n },
      ),
    )
    const der = yield* signLeaf(ca, {
      subject: kubeApiserverName,
      subjectPublicKeyInfo: keys.publicKey.export({ type: "spki", format: "der" }),
      notBefore: new Date(now - hourMs),
      notAfter: new Date(now + 365 * 24 * hourMs),
      isCA: false,
      keyUsages: (1 << KeyUsageBits.digitalSignature) | (1 << KeyUsageBits.keyEncipherment),
      extKeyUsages: ["1.3.6.1.5.5.7.3.1"],
      subjectAltName: new Uint8Array(san.value),
    })
    return {
      certificatePem: `${pem("CERTIFICATE", der)}\n`,
      privateKeyPem: Redacted.make(keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString()),
    }
  })

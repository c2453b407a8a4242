/**
 * The sandbox's certificate authority: generated at start (ECDSA P-256, ten years) or
 * loaded from PEM, able to sign leaf certificates for the issuer and the HTTPS serving
 * certificate of the API server. All crypto goes through node's WebCrypto, passed to
 * @peculiar/x509 explicitly rather than set as its global provider.
 */
import "reflect-metadata"
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from "node:crypto"
import { isIP } from "node:net"
import * as x509 from "@peculiar/x509"
import { Clock, Data, Effect, Redacted } from "effect"

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

/** Generates a self-signed ECDSA P-256 CA. */
export const generateCa = (
  commonName = "cert-manager-csi-driver sandbox CA",
): Effect.Effect<CertificateAuthority, CaError> =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" }
    const keys = yield* tryCrypto("generate CA key", () =>
      crypto.subtle.generateKey(alg, false, ["sign", "verify"]),
    )
    const certificate = yield* tryCrypto("self-sign CA", async () =>
      x509.X509CertificateGenerator.createSelfSigned(
        {
          serialNumber: randomSerial(),
          name: `CN=${commonName}, O=cert-manager-csi-driver`,
          notBefore: new Date(now - hourMs),
          notAfter: new Date(now + 10 * 365 * 24 * hourMs),
          keys,
          signingAlgorithm: alg,
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
      signingAlgorithm: alg,
      selfSigned: true,
    }
  })

const curves: Record<string, string> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" }
const curveHash: Record<string, string> = { "P-256": "SHA-256", "P-384": "SHA-384", "P-521": "SHA-512" }

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
    const keyType = keyObject.asymmetricKeyType
    let importAlg: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm
    let signingAlgorithm: SigningAlgorithm
    if (keyType === "ec") {
      const curve = curves[keyObject.asymmetricKeyDetails?.namedCurve ?? ""]
      if (curve === undefined) return yield* new CaError({ reason: "unsupported EC curve for the CA key" })
      importAlg = { name: "ECDSA", namedCurve: curve }
      signingAlgorithm = { name: "ECDSA", hash: curveHash[curve]! }
    } else if (keyType === "rsa") {
      importAlg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
      signingAlgorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
    } else if (keyType === "ed25519") {
      importAlg = { name: "Ed25519" }
      signingAlgorithm = { name: "Ed25519" }
    } else {
      return yield* new CaError({ reason: `unsupported CA key type ${String(keyType)}` })
    }
    const spkiOfKey = createPublicKey(keyObject).export({ type: "spki", format: "der" })
    if (!Buffer.from(certificate.publicKey.rawData).equals(spkiOfKey)) {
      return yield* new CaError({ reason: "the CA private key does not match the CA certificate" })
    }
    const der = keyObject.export({ type: "pkcs8", format: "der" })
    const privateKey = yield* tryCrypto("import the CA key", () =>
      crypto.subtle.importKey("pkcs8", der, importAlg, false, ["sign"]),
    )
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
      signingAlgorithm,
      selfSigned,
    }
  })

export interface LeafRequest {
  readonly subject: x509.Name | string
  readonly publicKey: x509.PublicKey | CryptoKey
  readonly notBefore: Date
  readonly notAfter: Date
  readonly isCA: boolean
  readonly keyUsages: number
  readonly extKeyUsages: ReadonlyArray<string>
  /** The subjectAltName extension value (DER), copied from a CSR; absent for none. */
  readonly subjectAltName?: ArrayBuffer
  /** Marks subjectAltName critical, as RFC 5280 requires when the subject is empty. */
  readonly subjectAltNameCritical?: boolean
}

/** Signs a certificate with the CA; notAfter is capped at the CA's own notAfter. */
export const signLeaf = (
  ca: CertificateAuthority,
  req: LeafRequest,
): Effect.Effect<x509.X509Certificate, CaError> =>
  tryCrypto("sign the certificate", async () => {
    const extensions: Array<x509.Extension> = [new x509.BasicConstraintsExtension(req.isCA, undefined, true)]
    if (req.keyUsages !== 0) extensions.push(new x509.KeyUsagesExtension(req.keyUsages, true))
    if (req.extKeyUsages.length > 0)
      extensions.push(new x509.ExtendedKeyUsageExtension([...req.extKeyUsages], false))
    if (req.subjectAltName !== undefined) {
      extensions.push(
        new x509.Extension("2.5.29.17", req.subjectAltNameCritical ?? false, req.subjectAltName),
      )
    }
    extensions.push(await x509.SubjectKeyIdentifierExtension.create(req.publicKey, false, crypto))
    const caSki = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension)
    extensions.push(
      caSki === null
        ? await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey, false, crypto)
        : new x509.AuthorityKeyIdentifierExtension(caSki.keyId, false),
    )
    const notAfter =
      req.notAfter.getTime() > ca.certificate.notAfter.getTime() ? ca.certificate.notAfter : req.notAfter
    return x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: req.subject,
        issuer: ca.certificate.subjectName,
        notBefore: req.notBefore,
        notAfter,
        publicKey: req.publicKey,
        signingKey: ca.privateKey,
        signingAlgorithm: ca.signingAlgorithm,
        extensions,
      },
      crypto,
    )
  })

const pemOf = (der: ArrayBuffer, label: string): string => {
  const b64 = Buffer.from(der).toString("base64")
  return `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, "$1\n").replace(/\n$/, "")}\n-----END ${label}-----\n`
}

export interface ServingCertificate {
  readonly certificatePem: string
  readonly privateKeyPem: Redacted.Redacted<string>
}

/** A TLS server certificate for the given host names and IPs (plus localhost, 127.0.0.1, ::1). */
export const issueServingCertificate = (
  ca: CertificateAuthority,
  hosts: ReadonlyArray<string>,
): Effect.Effect<ServingCertificate, CaError> =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const alg = { name: "ECDSA", namedCurve: "P-256" }
    const keys = yield* tryCrypto("generate serving key", () =>
      crypto.subtle.generateKey(alg, true, ["sign", "verify"]),
    )
    const names = [...new Set(["localhost", "127.0.0.1", "::1", ...hosts])]
    const san = new x509.SubjectAlternativeNameExtension(
      names.map((n) =>
        isIP(n) === 0 ? { type: "dns" as const, value: n } : { type: "ip" as const, value: n },
      ),
    )
    const cert = yield* signLeaf(ca, {
      subject: "CN=kube-apiserver",
      publicKey: keys.publicKey,
      notBefore: new Date(now - hourMs),
      notAfter: new Date(now + 365 * 24 * hourMs),
      isCA: false,
      keyUsages: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      extKeyUsages: ["1.3.6.1.5.5.7.3.1"],
      subjectAltName: san.value,
    })
    const pkcs8 = yield* tryCrypto("export serving key", () =>
      crypto.subtle.exportKey("pkcs8", keys.privateKey),
    )
    return { certificatePem: cert.toString("pem"), privateKeyPem: Redacted.make(pemOf(pkcs8, "PRIVATE KEY")) }
  })

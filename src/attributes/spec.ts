/**
 * The typed result of decoding a volume's attributes: everything the driver needs
 * to request, write and renew one certificate. Produced by `attributes/parse.ts`
 * with defaults applied and `${VAR}`s expanded; consumed by pki, kube and volume.
 */
import type * as Duration from "effect/Duration"
import type * as Redacted from "effect/Redacted"

/** cert-manager's key usage names, exactly as `spec.usages` spells them. */
export const KeyUsages = [
  "signing",
  "digital signature",
  "content commitment",
  "key encipherment",
  "key agreement",
  "data encipherment",
  "cert sign",
  "crl sign",
  "encipher only",
  "decipher only",
  "any",
  "server auth",
  "client auth",
  "code signing",
  "email protection",
  "s/mime",
  "ipsec end system",
  "ipsec tunnel",
  "ipsec user",
  "timestamping",
  "ocsp signing",
  "microsoft sgc",
  "netscape sgc",
] as const
export type KeyUsage = (typeof KeyUsages)[number]

export type KeyAlgorithm = "RSA" | "ECDSA" | "Ed25519"
export type KeyEncoding = "PKCS1" | "PKCS8"
export type Pkcs12Profile = "LegacyRC2" | "LegacyDES" | "Modern2023"

export interface IssuerRef {
  readonly name: string
  readonly kind: string
  readonly group: string
}

export interface Subject {
  readonly commonName?: string
  readonly organizations: ReadonlyArray<string>
  readonly organizationalUnits: ReadonlyArray<string>
  readonly countries: ReadonlyArray<string>
  readonly provinces: ReadonlyArray<string>
  readonly localities: ReadonlyArray<string>
  readonly streetAddresses: ReadonlyArray<string>
  readonly postalCodes: ReadonlyArray<string>
  readonly serialNumber?: string
}

export interface KeySpec {
  readonly algorithm: KeyAlgorithm
  /** RSA modulus bits (2048..8192) or ECDSA curve size (256/384/521); 0 for Ed25519. */
  readonly size: number
  readonly encoding: KeyEncoding
}

export interface OutputFiles {
  readonly certificate: string
  readonly ca: string
  readonly privateKey: string
}

export interface Pkcs12Spec {
  readonly filename: string
  readonly password: Redacted.Redacted<string>
  readonly profile: Pkcs12Profile
}

export interface CertificateSpec {
  readonly issuerRef: IssuerRef
  /** An RFC 4514 subject; when present it replaces `subject` entirely. */
  readonly literalSubject?: string
  readonly subject: Subject
  readonly dnsNames: ReadonlyArray<string>
  readonly ipAddresses: ReadonlyArray<string>
  readonly uris: ReadonlyArray<string>
  readonly duration: Duration.Duration
  readonly isCA: boolean
  readonly usages: ReadonlyArray<KeyUsage>
  readonly key: KeySpec
  readonly files: OutputFiles
  /** Group owning the written files; from `fs-group`, else the pod's fsGroup. */
  readonly fsGroup?: number
  /** Renew this long before notAfter; absent means at two thirds of the lifetime. */
  readonly renewBefore?: Duration.Duration
  readonly reusePrivateKey: boolean
  readonly pkcs12?: Pkcs12Spec
  /** Attributes from foreign groups, copied onto the CertificateRequest. */
  readonly annotations: Readonly<Record<string, string>>
}

/** Who mounts the volume: from kubelet's `csi.storage.k8s.io/*` context keys. */
export interface PodInfo {
  readonly name: string
  readonly namespace: string
  readonly uid: string
  readonly serviceAccountName: string
  /**
   * The pod's IPs (status.podIPs) as the pod watch last showed them, for `${POD_IP}` and
   * `${POD_IPS}`; kubelet does not send them, so absent until an issuance records them.
   */
  readonly ips?: ReadonlyArray<string>
}

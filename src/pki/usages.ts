/**
 * cert-manager's key usage names mapped to X.509, both ways, with cert-manager's own rules:
 * what its `pki` package puts in a CSR and a certificate for `spec.usages` and `spec.isCA`
 * (`KeyUsagesForCertificateOrCertificateRequest`), and what names its webhook reads back
 * from a CSR (`BuildCertManagerKeyUsages`). Shared by the CSR we build, the `spec.usages`
 * we send, and the sandbox's webhook and CA issuer, so all of them agree.
 */
import type { KeyUsage } from "../attributes/spec.js"

/** KeyUsage bit positions as RFC 5280 numbers them (digitalSignature = 0). */
export const KeyUsageBits = {
  digitalSignature: 0,
  contentCommitment: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const
export type KeyUsageBit = keyof typeof KeyUsageBits

const keyUsageOf: Partial<Record<KeyUsage, KeyUsageBit>> = {
  signing: "digitalSignature",
  "digital signature": "digitalSignature",
  "content commitment": "contentCommitment",
  "key encipherment": "keyEncipherment",
  "key agreement": "keyAgreement",
  "data encipherment": "dataEncipherment",
  "cert sign": "keyCertSign",
  "crl sign": "cRLSign",
  "encipher only": "encipherOnly",
  "decipher only": "decipherOnly",
}

const extKeyUsageOf: Partial<Record<KeyUsage, string>> = {
  any: "2.5.29.37.0",
  "server auth": "1.3.6.1.5.5.7.3.1",
  "client auth": "1.3.6.1.5.5.7.3.2",
  "code signing": "1.3.6.1.5.5.7.3.3",
  "email protection": "1.3.6.1.5.5.7.3.4",
  "s/mime": "1.3.6.1.5.5.7.3.4",
  "ipsec end system": "1.3.6.1.5.5.7.3.5",
  "ipsec tunnel": "1.3.6.1.5.5.7.3.6",
  "ipsec user": "1.3.6.1.5.5.7.3.7",
  timestamping: "1.3.6.1.5.5.7.3.8",
  "ocsp signing": "1.3.6.1.5.5.7.3.9",
  "microsoft sgc": "1.3.6.1.4.1.311.10.3.3",
  "netscape sgc": "2.16.840.1.113730.4.1",
}

/** The single flag of one KeyUsage bit. */
export const keyUsageFlag = (bit: KeyUsageBit): number => 1 << KeyUsageBits[bit]

/** cert-manager's default `spec.usages`, used when none are given. */
export const defaultUsages: ReadonlyArray<KeyUsage> = ["digital signature", "key encipherment"]

export interface X509Usages {
  /** KeyUsage flags: bit n is RFC 5280's bit n (digitalSignature = 1 << 0). */
  readonly keyUsage: number
  /** ExtendedKeyUsage OIDs in the order named; repeats stay, as cert-manager keeps them. */
  readonly extKeyUsages: ReadonlyArray<string>
}

/**
 * KeyUsage and ExtendedKeyUsage for a spec as cert-manager builds them: the defaults when
 * no usages are given, `cert sign` added for a CA. Its CA issuer compares a CSR's usages
 * with these exactly (flags equal, OIDs equal in order), so the CSR must carry the same.
 */
export const x509UsagesFor = (usages: ReadonlyArray<KeyUsage>, isCA: boolean): X509Usages => {
  let keyUsage = isCA ? keyUsageFlag("keyCertSign") : 0
  const extKeyUsages: Array<string> = []
  for (const usage of usages.length === 0 ? defaultUsages : usages) {
    const bit = keyUsageOf[usage]
    if (bit !== undefined) keyUsage |= keyUsageFlag(bit)
    const oid = extKeyUsageOf[usage]
    if (oid !== undefined) extKeyUsages.push(oid)
  }
  return { keyUsage, extKeyUsages }
}

/** cert-manager's one name per KeyUsage bit, in bit order, as its webhook reads a CSR back. */
const keyUsageNames: ReadonlyArray<KeyUsage> = [
  "digital signature",
  "content commitment",
  "key encipherment",
  "data encipherment",
  "key agreement",
  "cert sign",
  "crl sign",
  "encipher only",
  "decipher only",
]

/** OID → cert-manager's name; "email protection" (not "s/mime") for id-kp-emailProtection. */
const extKeyUsageNames = new Map<string, string>([
  ...Object.entries(extKeyUsageOf)
    .filter(([name]) => name !== "s/mime")
    .map(([name, oid]) => [oid, name] as [string, string]),
  // Go's x509 knows these two; cert-manager has no name for them
  ["1.3.6.1.4.1.311.2.1.22", "unknown"],
  ["1.3.6.1.4.1.311.61.1.1", "unknown"],
])

/** The OIDs among these that Go's x509 knows as ExtKeyUsages (the ones cert-manager compares). */
export const knownExtKeyUsages = (oids: ReadonlyArray<string>): ReadonlyArray<string> =>
  oids.filter((oid) => extKeyUsageNames.has(oid))

/**
 * The usage names cert-manager's webhook reads from a CSR's KeyUsage flags and EKU OIDs:
 * one per set bit in bit order, then one per known OID in order (unknown OIDs are skipped).
 */
export const usageNamesOf = (
  keyUsage: number,
  extKeyUsages: ReadonlyArray<string>,
): ReadonlyArray<string> => [
  ...keyUsageNames.filter((_, bit) => (keyUsage & (1 << bit)) !== 0),
  ...extKeyUsages.flatMap((oid) => {
    const name = extKeyUsageNames.get(oid)
    return name === undefined ? [] : [name]
  }),
]

/**
 * The `spec.usages` we send for a volume's usages: each X.509 meaning once, in the order
 * first named, with "s/mime" sent as "email protection". cert-manager's webhook reads the
 * CSR's usages back under one name each and compares them, as a multiset, with
 * `spec.usages` (only "signing" and "digital signature" count as one): a repeated usage or
 * "s/mime" would be refused though the certificate asked for is the same.
 */
export const requestUsages = (usages: ReadonlyArray<KeyUsage>): ReadonlyArray<KeyUsage> => {
  const seen = new Set<string>()
  const out: Array<KeyUsage> = []
  for (const named of usages) {
    const usage: KeyUsage = named === "s/mime" ? "email protection" : named
    const meaning = keyUsageOf[usage] ?? extKeyUsageOf[usage] ?? usage
    if (seen.has(meaning)) continue
    seen.add(meaning)
    out.push(usage)
  }
  return out
}

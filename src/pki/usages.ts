/**
 * cert-manager's key usage names mapped to X.509: which become bits of the KeyUsage
 * extension and which become ExtendedKeyUsage OIDs. Shared by the CSR we build and
 * by the sandbox issuer that signs it, so both read `spec.usages` the same way.
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

export interface X509Usages {
  /** Distinct KeyUsage bits, in RFC order. */
  readonly keyUsages: ReadonlyArray<KeyUsageBit>
  /** Distinct ExtendedKeyUsage OIDs, in the order first named. */
  readonly extKeyUsages: ReadonlyArray<string>
}

/** Splits cert-manager usage names into KeyUsage bits and ExtendedKeyUsage OIDs. */
export const toX509Usages = (usages: ReadonlyArray<KeyUsage>): X509Usages => {
  const bits = new Set<KeyUsageBit>()
  const oids = new Set<string>()
  for (const usage of usages) {
    const bit = keyUsageOf[usage]
    if (bit !== undefined) bits.add(bit)
    const oid = extKeyUsageOf[usage]
    if (oid !== undefined) oids.add(oid)
  }
  const keyUsages = [...bits].sort((a, b) => KeyUsageBits[a] - KeyUsageBits[b])
  return { keyUsages, extKeyUsages: [...oids] }
}

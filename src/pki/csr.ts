/**
 * Builds the PKCS#10 certificate signing request sent in a CertificateRequest:
 * subject, SANs and usages from the spec, signed with the pod's key. KeyUsage and
 * ExtendedKeyUsage must equal `spec.usages` exactly, or cert-manager's webhook
 * rejects the CertificateRequest.
 */
import "reflect-metadata"
import * as crypto from "node:crypto"
import * as x509 from "@peculiar/x509"
import { Effect, Result } from "effect"
import type { CertificateSpec } from "../attributes/spec.js"
import * as Der from "./der.js"
import { CsrError } from "./errors.js"
import type { PrivateKey } from "./keys.js"
import { subjectFromFields, subjectFromLiteral } from "./subject.js"
import { KeyUsageBits, toX509Usages } from "./usages.js"

x509.cryptoProvider.set(crypto.webcrypto)

const ExtensionOids = {
  subjectAltName: "2.5.29.17",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  basicConstraints: "2.5.29.19",
} as const

/** An IP address as the 4 or 16 bytes of a SAN iPAddress; IPv4-mapped IPv6 becomes 4 bytes, as in Go. */
export const ipAddressBytes = (text: string): Uint8Array | undefined => {
  const v4 = (s: string): Array<number> | undefined => {
    const parts = s.split(".")
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) {
      return undefined
    }
    return parts.map(Number)
  }
  const asV4 = v4(text)
  if (asV4 !== undefined) return Uint8Array.from(asV4)
  const halves = text.split("::")
  if (halves.length > 2 || !/^[0-9A-Fa-f:.]+$/.test(text)) return undefined
  const groups = (s: string): Array<number> | undefined => {
    if (s === "") return []
    const out: Array<number> = []
    const parts = s.split(":")
    for (const [index, part] of parts.entries()) {
      const tail = index === parts.length - 1 ? v4(part) : undefined
      if (tail !== undefined) out.push((tail[0]! << 8) | tail[1]!, (tail[2]! << 8) | tail[3]!)
      else if (/^[0-9A-Fa-f]{1,4}$/.test(part)) out.push(Number.parseInt(part, 16))
      else return undefined
    }
    return out
  }
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  if (head === undefined || tail === undefined) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  const words = [...head, ...Array<number>(missing).fill(0), ...tail]
  const bytes = Uint8Array.from(words.flatMap((w) => [w >> 8, w & 0xff]))
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff
  return mapped ? bytes.slice(12) : bytes
}

/** SubjectAltName in Go's order (DNS, IP, URI); undefined when there are none. */
const subjectAltName = (spec: CertificateSpec): Result.Result<Uint8Array | undefined, CsrError> => {
  const names: Array<Uint8Array> = spec.dnsNames.map((dns) =>
    Der.implicitPrimitive(2, new TextEncoder().encode(dns)),
  )
  for (const ip of spec.ipAddresses) {
    const bytes = ipAddressBytes(ip)
    if (bytes === undefined) {
      return Result.fail(new CsrError({ reason: "InvalidSan", message: `"${ip}" is not an IP address` }))
    }
    names.push(Der.implicitPrimitive(7, bytes))
  }
  for (const uri of spec.uris) {
    if (!URL.canParse(uri))
      return Result.fail(new CsrError({ reason: "InvalidSan", message: `"${uri}" is not a URI` }))
    names.push(Der.implicitPrimitive(6, new TextEncoder().encode(uri)))
  }
  return Result.succeed(names.length === 0 ? undefined : Der.sequence(...names))
}

/** KeyUsage BIT STRING, DER-minimal (trailing zero bits dropped). */
const keyUsageValue = (bits: ReadonlyArray<number>): Uint8Array => {
  const highest = Math.max(...bits)
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1)
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7)
  return Der.bitString(bytes, 7 - (highest % 8))
}

const extensions = (spec: CertificateSpec): Result.Result<Array<x509.Extension>, CsrError> =>
  Result.map(subjectAltName(spec), (san) => {
    const out: Array<x509.Extension> = []
    if (san !== undefined) out.push(new x509.Extension(ExtensionOids.subjectAltName, false, san))
    const usages = toX509Usages(spec.usages)
    if (usages.keyUsages.length > 0) {
      const bits = usages.keyUsages.map((name) => KeyUsageBits[name])
      out.push(new x509.Extension(ExtensionOids.keyUsage, true, keyUsageValue(bits)))
    }
    if (usages.extKeyUsages.length > 0) {
      const value = Der.sequence(...usages.extKeyUsages.map(Der.oid))
      out.push(new x509.Extension(ExtensionOids.extKeyUsage, false, value))
    }
    if (spec.isCA) {
      out.push(new x509.Extension(ExtensionOids.basicConstraints, true, Der.sequence(Der.boolean(true))))
    }
    return out
  })

/** The WebCrypto algorithms to import the key with and to sign with (Go's defaults for a CSR). */
const algorithms = (key: PrivateKey) => {
  switch (key.spec.algorithm) {
    case "RSA":
      return {
        importAs: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
        signWith: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      }
    case "ECDSA": {
      const size = key.spec.size
      const hash = size === 384 ? "SHA-384" : size === 521 ? "SHA-512" : "SHA-256"
      return { importAs: { name: "ECDSA", namedCurve: `P-${size}` }, signWith: { name: "ECDSA", hash } }
    }
    case "Ed25519":
      return { importAs: { name: "Ed25519" }, signWith: { name: "Ed25519" } }
  }
}

const subjectName = (spec: CertificateSpec): Result.Result<x509.Name, CsrError> => {
  const der =
    spec.literalSubject === undefined
      ? Result.succeed(subjectFromFields(spec.subject))
      : Result.mapError(
          subjectFromLiteral(spec.literalSubject),
          (why) => new CsrError({ reason: "InvalidSubject", message: `literal subject is invalid: ${why}` }),
        )
  return Result.map(der, (bytes) => new x509.Name(bytes))
}

/** Builds a PEM CSR for the spec, signed with the key. */
export const buildCsr = Effect.fn("buildCsr")(function* (spec: CertificateSpec, key: PrivateKey) {
  const name = yield* Effect.fromResult(subjectName(spec))
  const exts = yield* Effect.fromResult(extensions(spec))
  const { importAs, signWith } = algorithms(key)
  const csr = yield* Effect.tryPromise({
    try: async () => {
      const privateKey = key.keyObject.toCryptoKey(importAs, false, ["sign"])
      const publicKey = crypto.createPublicKey(key.keyObject).toCryptoKey(importAs, true, ["verify"])
      return x509.Pkcs10CertificateRequestGenerator.create({
        name,
        keys: { privateKey, publicKey },
        signingAlgorithm: signWith,
        extensions: exts,
      })
    },
    catch: (cause) =>
      new CsrError({
        reason: "SigningFailed",
        message: `signing the CSR failed: ${cause instanceof Error ? cause.message : "unknown error"}`,
      }),
  })
  return csr.toString("pem")
})

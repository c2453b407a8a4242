/**
 * What a CertificateRequest's CSR asks for beyond names: its KeyUsage flags, its
 * ExtendedKeyUsage OIDs and its BasicConstraints CA flag, read from the requested
 * extensions. The sandbox's webhook compares these with `spec.usages`, and its CA issuer
 * with `spec.usages` and `spec.isCA`, as cert-manager's do; both start from `spec.request`
 * decoded here.
 */
import { Result } from "effect"
import { type CertificateSigningRequest, type RequestedExtension, readCsr } from "./csr-reader.js"
import { childrenOf, contentOf, readOid, readWhole, Tag } from "./der-reader.js"

const Oids = { keyUsage: "2.5.29.15", extKeyUsage: "2.5.29.37", basicConstraints: "2.5.29.19" } as const

const csrPem =
  /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]+?)-----END (?:NEW )?CERTIFICATE REQUEST-----/

/** `spec.request` (base64 of a PEM CSR) to a parsed CSR; a failure says what is wrong. */
export const parseRequest = (request: unknown): Result.Result<CertificateSigningRequest, string> => {
  if (typeof request !== "string" || request === "") return Result.fail("spec.request is empty")
  const found = csrPem.exec(Buffer.from(request, "base64").toString("utf8"))
  if (found === null) return Result.fail("error decoding certificate request PEM block")
  return Result.mapError(
    readCsr(new Uint8Array(Buffer.from(found[1]!, "base64"))),
    (why) => `failed to parse csr: ${why}`,
  )
}

export interface RequestedUsages {
  /** KeyUsage flags (bit n is RFC 5280's bit n); undefined without the extension. */
  readonly keyUsage: number | undefined
  /** ExtendedKeyUsage OIDs in order; undefined without the extension. */
  readonly extKeyUsages: ReadonlyArray<string> | undefined
}

/** KeyUsage ::= BIT STRING: the first nine named bits, as Go's x509 reads them. */
const keyUsageOf = (value: Uint8Array): number | undefined => {
  const tlv = readWhole(value)
  if (tlv?.tag !== Tag.bitString || tlv.end === tlv.contentStart) return undefined
  const unused = value[tlv.contentStart]!
  const bits = (tlv.end - tlv.contentStart - 1) * 8 - unused
  if (unused > 7 || bits < 0) return undefined
  let flags = 0
  for (let bit = 0; bit < Math.min(bits, 9); bit++) {
    if ((value[tlv.contentStart + 1 + (bit >> 3)]! & (0x80 >> (bit & 7))) !== 0) flags |= 1 << bit
  }
  return flags
}

/** ExtKeyUsageSyntax ::= SEQUENCE OF KeyPurposeId (OIDs). */
const extKeyUsagesOf = (value: Uint8Array): ReadonlyArray<string> | undefined => {
  const tlv = readWhole(value)
  const items = tlv?.tag === Tag.sequence ? childrenOf(value, tlv) : undefined
  const oids = items?.map((item) => readOid(value, item))
  return oids?.every((oid) => oid !== undefined) ? (oids as ReadonlyArray<string>) : undefined
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL } */
const isCaOf = (value: Uint8Array): boolean | undefined => {
  const tlv = readWhole(value)
  const items = tlv?.tag === Tag.sequence ? childrenOf(value, tlv) : undefined
  if (items === undefined || items.length > 2) return undefined
  const first = items[0]
  if (first === undefined || first.tag === Tag.integer) return false
  const content = contentOf(value, first)
  return first.tag === Tag.boolean && content.length === 1 ? content[0] !== 0 : undefined
}

const read = <A>(
  extensions: ReadonlyArray<RequestedExtension>,
  oid: string,
  what: string,
  parse: (value: Uint8Array) => A | undefined,
): Result.Result<A | undefined, string> => {
  const found = extensions.find((e) => e.oid === oid)
  if (found === undefined) return Result.succeed(undefined)
  const parsed = parse(found.value)
  return parsed === undefined ? Result.fail(`failed to decode csr ${what}`) : Result.succeed(parsed)
}

/** The usages a CSR requests; a failure names the extension that is malformed. */
export const requestedUsages = (csr: CertificateSigningRequest): Result.Result<RequestedUsages, string> =>
  Result.gen(function* () {
    const keyUsage = yield* read(csr.extensions, Oids.keyUsage, "usages", keyUsageOf)
    const extKeyUsages = yield* read(csr.extensions, Oids.extKeyUsage, "extended usages", extKeyUsagesOf)
    return { keyUsage, extKeyUsages }
  })

/** BasicConstraints' cA as the CSR requests it; undefined without the extension. */
export const requestedIsCA = (csr: CertificateSigningRequest): Result.Result<boolean | undefined, string> =>
  read(csr.extensions, Oids.basicConstraints, "basic constraints", isCaOf)

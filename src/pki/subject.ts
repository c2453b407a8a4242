/**
 * The CSR's subject as DER, built the way cert-manager builds it: from the subject
 * fields in Go's `pkix.Name.ToRDNSequence` order (one RDN per attribute type, all
 * its values in it), or from a `literal-subject` RFC 4514 string whose RDNs are
 * reversed into DER order, as cert-manager's `UnmarshalSubjectStringToRDNSequence` does.
 */
import { Result } from "effect"
import type { Subject } from "../attributes/spec.js"
import * as Der from "./der.js"

const Oids = {
  C: "2.5.4.6",
  O: "2.5.4.10",
  OU: "2.5.4.11",
  CN: "2.5.4.3",
  SERIALNUMBER: "2.5.4.5",
  L: "2.5.4.7",
  ST: "2.5.4.8",
  STREET: "2.5.4.9",
  POSTALCODE: "2.5.4.17",
  DC: "0.9.2342.19200300.100.1.25",
  UID: "0.9.2342.19200300.100.1.1",
} as const

interface Attribute {
  readonly oid: string
  readonly value: string
}
type Rdn = ReadonlyArray<Attribute>

// Go's asn1 picks PrintableString when every character allows it (no '*' or '&'), else UTF8String.
const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/
const directoryString = (value: string): Uint8Array =>
  printable.test(value) ? Der.printableString(value) : Der.utf8String(value)

const encodeName = (rdns: ReadonlyArray<Rdn>): Uint8Array =>
  Der.sequence(
    ...rdns.map((rdn) => Der.setOf(rdn.map((a) => Der.sequence(Der.oid(a.oid), directoryString(a.value))))),
  )

/** Subject fields → DER Name, in Go's order: C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER. */
export const subjectFromFields = (subject: Subject): Uint8Array => {
  const rdn = (oid: string, values: ReadonlyArray<string>): Array<Rdn> =>
    values.length === 0 ? [] : [values.map((value) => ({ oid, value }))]
  const single = (value: string | undefined): ReadonlyArray<string> =>
    value === undefined || value === "" ? [] : [value]
  return encodeName([
    ...rdn(Oids.C, subject.countries),
    ...rdn(Oids.ST, subject.provinces),
    ...rdn(Oids.L, subject.localities),
    ...rdn(Oids.STREET, subject.streetAddresses),
    ...rdn(Oids.POSTALCODE, subject.postalCodes),
    ...rdn(Oids.O, subject.organizations),
    ...rdn(Oids.OU, subject.organizationalUnits),
    ...rdn(Oids.CN, single(subject.commonName)),
    ...rdn(Oids.SERIALNUMBER, single(subject.serialNumber)),
  ])
}

const numericOid = /^[0-2](\.(0|[1-9][0-9]*))+$/

const attributeOid = (type: string): string | undefined => {
  const known = Oids[type.toUpperCase() as keyof typeof Oids]
  if (known !== undefined) return known
  return numericOid.test(type) ? type : undefined
}

/**
 * Parses an RFC 4514 string into RDNs in string order. Handles `\`-escapes of
 * special characters and `\XX` hex pairs (UTF-8), multi-valued RDNs with `+`,
 * quoted values, and spaces around separators. `#`-hex values are refused, as
 * cert-manager refuses them.
 */
const parseRfc4514 = (text: string): Result.Result<Array<Rdn>, string> => {
  const rdns: Array<Rdn> = []
  let rdn: Array<Attribute> = []
  let i = 0
  const skipSpaces = () => {
    while (text[i] === " ") i++
  }
  if (text.trim() === "") return Result.succeed([])
  while (i <= text.length) {
    skipSpaces()
    const eq = text.indexOf("=", i)
    if (eq < 0) return Result.fail(`missing "=" after position ${i}`)
    const type = text.slice(i, eq).trim()
    const oid = attributeOid(type)
    if (oid === undefined) return Result.fail(`unknown attribute type "${type}"`)
    i = eq + 1
    skipSpaces()
    if (text[i] === "#") return Result.fail(`hex-encoded values ("${type}=#...") are not supported`)
    const bytes: Array<number> = []
    const pushText = (s: string) => bytes.push(...new TextEncoder().encode(s))
    let trailingSpaces = 0
    if (text[i] === '"') {
      const end = text.indexOf('"', i + 1)
      if (end < 0) return Result.fail("unterminated quoted value")
      pushText(text.slice(i + 1, end))
      i = end + 1
      skipSpaces()
    } else {
      while (i < text.length && text[i] !== "," && text[i] !== "+" && text[i] !== ";") {
        const c = text[i]!
        if (c === "\\") {
          const hex = text.slice(i + 1, i + 3)
          if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
            bytes.push(Number.parseInt(hex, 16))
            i += 3
          } else if (i + 1 < text.length) {
            pushText(text[i + 1]!)
            i += 2
          } else {
            return Result.fail("dangling escape at the end")
          }
          trailingSpaces = 0
        } else {
          pushText(c)
          trailingSpaces = c === " " ? trailingSpaces + 1 : 0
          i++
        }
      }
    }
    const value = new TextDecoder("utf-8", { fatal: false }).decode(
      Uint8Array.from(bytes.slice(0, bytes.length - trailingSpaces)),
    )
    rdn.push({ oid, value })
    const sep = text[i]
    i++
    if (sep === "+") continue
    rdns.push(rdn)
    rdn = []
    if (sep === undefined) break
  }
  return Result.succeed(rdns)
}

/** A literal RFC 4514 subject → DER Name, the last RDN of the string first. */
export const subjectFromLiteral = (literal: string): Result.Result<Uint8Array, string> =>
  Result.map(parseRfc4514(literal), (rdns) => encodeName([...rdns].reverse()))

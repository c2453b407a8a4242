/**
 * The Schema of the attribute set: one optional string field per attribute, each
 * decoded to its typed value or to issues whose messages say what to write instead.
 * `${VAR}`s are expanded before (`expandVariables`, per pod), so one Schema serves
 * every volume without a pkcs12-password; a volume with one gets its own, whose
 * messages hide it.
 */
import { Effect, Result, Schema, SchemaIssue, SchemaTransformation } from "effect"
import { firstFew, shownEntries } from "../bounded.js"
import { formatGoDuration } from "./duration.js"
import { expand, knownVariablesText, VariableNames } from "./expand.js"
import * as K from "./keys.js"
import type { Quote } from "./quote.js"
import { KeyUsages } from "./spec.js"
import { nearest } from "./suggest.js"
import * as V from "./values.js"

/**
 * The attributes whose values may use `${VAR}`s of the pod: upstream's, plus `ip-sans`
 * (for `${POD_IP}` and `${POD_IPS}`).
 */
export const ExpandableKeys: ReadonlyArray<K.AttributeKey> = [
  K.CommonNameKey,
  K.LiteralSubjectKey,
  K.OrganizationsKey,
  K.OrganizationalUnitsKey,
  K.CountriesKey,
  K.ProvincesKey,
  K.LocalitiesKey,
  K.StreetAddressesKey,
  K.PostalCodesKey,
  K.DnsNamesKey,
  K.IpSansKey,
  K.UriSansKey,
]

export interface Expansion {
  /** Every given attribute, expanded where allowed; those that failed to expand are left out. */
  readonly values: Partial<Record<K.AttributeKey, string>>
  readonly problems: ReadonlyArray<{ readonly attribute: K.AttributeKey; readonly message: string }>
  readonly failed: ReadonlySet<K.AttributeKey>
}

const unknownVariables = (raw: string, names: ReadonlyArray<string>, quote: Quote): string => {
  // Suggestions for the names shown only.
  const described = names.slice(0, shownEntries).map((name) => {
    const near = nearest(name, VariableNames)
    return near === undefined ? quote(`\${${name}}`) : `${quote(`\${${name}}`)} (did you mean \${${near}}?)`
  })
  const noun = names.length === 1 ? "variable" : "variables"
  return `${quote(raw)} uses the unknown ${noun} ${firstFew(described, names.length)}; the variables are ${knownVariablesText}`
}

/** Expands the `${VAR}`s of the expandable attributes with the pod's `variables`. */
export const expandVariables = (
  raw: Readonly<Partial<Record<K.AttributeKey, string>>>,
  variables: Readonly<Partial<Record<string, string>>>,
  quote: Quote,
): Expansion => {
  const values: Partial<Record<K.AttributeKey, string>> = { ...raw }
  const problems: Array<Expansion["problems"][number]> = []
  const failed = new Set<K.AttributeKey>()
  for (const key of ExpandableKeys) {
    const value = raw[key]
    if (value === undefined) continue
    const expanded = expand(value, variables)
    if (Result.isSuccess(expanded)) {
      values[key] = expanded.success
    } else {
      delete values[key]
      failed.add(key)
      problems.push({ attribute: key, message: unknownVariables(value, expanded.failure, quote) })
    }
  }
  return { values, problems, failed }
}

// One issue per message; several become a Composite, so each is reported on its own.
const issueOf = (messages: ReadonlyArray<string>): SchemaIssue.Issue => {
  const [first, ...rest] = messages.map(
    (message): SchemaIssue.Issue => new SchemaIssue.InvalidValue({ message }),
  )
  if (first === undefined) return new SchemaIssue.InvalidValue(undefined)
  return rest.length === 0 ? first : new SchemaIssue.Composite(Schema.String.ast, [first, ...rest])
}

// An optional string attribute decoded by `parse`; `show` writes a value back as an attribute.
const attribute = <To extends Schema.Top>(
  to: To,
  parse: (raw: string) => V.Checked<To["Encoded"]>,
  show: (value: To["Encoded"]) => string,
) =>
  Schema.optionalKey(
    Schema.String.pipe(
      Schema.decodeTo(
        to,
        SchemaTransformation.transformEffect<To["Encoded"], string>({
          decode: (raw) =>
            Result.match(parse(raw), {
              onSuccess: (value) => Effect.succeed(value),
              onFailure: (messages) => Effect.fail(issueOf(messages)),
            }),
          encode: (value) => Effect.succeed(show(value)),
        }),
      ),
    ),
  )

const StringList = Schema.Array(Schema.String)
const joinList = (entries: ReadonlyArray<string>) => entries.join(",")
const joinEscaped = (entries: ReadonlyArray<string>) =>
  entries.map((entry) => entry.replaceAll(",", "\\,")).join(",")
const same = (value: string) => value

/** The Schema for attributes already expanded; `quote` shows values in messages. */
export const makeAttributesSchema = (quote: Quote) => {
  const plain =
    <A>(parse: (raw: string, quote: Quote) => V.Checked<A>) =>
    (raw: string) =>
      parse(raw, quote)
  // Split after expansion: only ${POD_IPS} holds commas, and each address is an entry of its own.
  const subjectList = attribute(StringList, (raw) => Result.map(V.text(raw), V.escapedList), joinEscaped)

  return Schema.Struct({
    [K.IssuerNameKey]: attribute(Schema.String, plain(V.text), same),
    [K.IssuerKindKey]: attribute(Schema.String, plain(V.text), same),
    [K.IssuerGroupKey]: attribute(Schema.String, plain(V.text), same),
    [K.CommonNameKey]: attribute(Schema.String, plain(V.text), same),
    [K.LiteralSubjectKey]: attribute(Schema.String, plain(V.literalSubject), same),
    [K.OrganizationsKey]: subjectList,
    [K.OrganizationalUnitsKey]: subjectList,
    [K.CountriesKey]: subjectList,
    [K.ProvincesKey]: subjectList,
    [K.LocalitiesKey]: subjectList,
    [K.StreetAddressesKey]: subjectList,
    [K.PostalCodesKey]: subjectList,
    [K.SerialNumberKey]: attribute(Schema.String, plain(V.text), same),
    [K.DnsNamesKey]: attribute(StringList, plain(V.dnsNames), joinList),
    [K.IpSansKey]: attribute(StringList, plain(V.ipAddresses), joinList),
    [K.UriSansKey]: attribute(StringList, plain(V.uris), joinList),
    [K.DurationKey]: attribute(Schema.Duration, plain(V.goDuration("720h")), formatGoDuration),
    [K.RenewBeforeKey]: attribute(Schema.Duration, plain(V.goDuration("72h")), formatGoDuration),
    [K.IsCaKey]: attribute(Schema.Boolean, plain(V.boolean), String),
    [K.KeyUsagesKey]: attribute(Schema.Array(Schema.Literals(KeyUsages)), plain(V.keyUsages), joinList),
    [K.KeyAlgorithmKey]: attribute(Schema.Literals(["RSA", "ECDSA", "Ed25519"]), plain(V.keyAlgorithm), same),
    [K.KeySizeKey]: attribute(Schema.Number, plain(V.keySize), String),
    [K.KeyEncodingKey]: attribute(Schema.Literals(["PKCS1", "PKCS8"]), plain(V.keyEncoding), same),
    [K.ReusePrivateKeyKey]: attribute(Schema.Boolean, plain(V.boolean), String),
    [K.CertificateFileKey]: attribute(Schema.String, plain(V.fileName("tls.crt")), same),
    [K.PrivateKeyFileKey]: attribute(Schema.String, plain(V.fileName("tls.key")), same),
    [K.CaFileKey]: attribute(Schema.String, plain(V.fileName("ca.crt")), same),
    [K.FsGroupKey]: attribute(Schema.Number, plain(V.groupId), String),
    [K.Pkcs12EnableKey]: attribute(Schema.Boolean, plain(V.boolean), String),
    [K.Pkcs12FilenameKey]: attribute(Schema.String, plain(V.fileName("keystore.p12")), same),
    // Carried redacted from the start; it has no syntax, so it never appears in a message.
    [K.Pkcs12PasswordKey]: Schema.optionalKey(Schema.RedactedFromValue(Schema.String)),
    [K.Pkcs12ProfileKey]: attribute(
      Schema.Literals(["LegacyRC2", "LegacyDES", "Modern2023"]),
      plain(V.pkcs12Profile),
      same,
    ),
  })
}

export type AttributesSchema = ReturnType<typeof makeAttributesSchema>
/** The attributes given, each decoded to its typed value; absent ones stay absent. */
export type Attributes = AttributesSchema["Type"]

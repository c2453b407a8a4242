/**
 * The Schema of the attribute set: one optional string field per attribute, each
 * decoded (after `${VAR}` expansion, where allowed) to its typed value or to issues
 * whose messages say what to write instead. Built per volume, because expansion
 * needs the pod and messages must hide the volume's pkcs12-password.
 */
import { Effect, Result, Schema, SchemaIssue, SchemaTransformation } from "effect"
import { formatGoDuration } from "./duration.js"
import { expand, knownVariablesText, VariableNames } from "./expand.js"
import * as K from "./keys.js"
import type { Quote } from "./quote.js"
import { KeyUsages } from "./spec.js"
import { nearest } from "./suggest.js"
import * as V from "./values.js"

/** What decoding one volume's attributes depends on. */
export interface DecodeEnv {
  /** `${VAR}` values: the mounting pod's identity. */
  readonly variables: Readonly<Record<string, string>>
  readonly quote: Quote
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

export const makeAttributesSchema = (env: DecodeEnv) => {
  const { quote } = env
  const plain =
    <A>(parse: (raw: string, quote: Quote) => V.Checked<A>) =>
    (raw: string) =>
      parse(raw, quote)
  const unknownVariables = (raw: string, names: ReadonlyArray<string>): string => {
    const described = names.map((name) => {
      const near = nearest(name, VariableNames)
      return near === undefined ? quote(`\${${name}}`) : `${quote(`\${${name}}`)} (did you mean \${${near}}?)`
    })
    const noun = names.length === 1 ? "variable" : "variables"
    return `${quote(raw)} uses the unknown ${noun} ${V.oneOf(described, "and")}; the variables are ${knownVariablesText}`
  }
  const expanded =
    <A>(parse: (raw: string, quote: Quote) => V.Checked<A>) =>
    (raw: string): V.Checked<A> =>
      Result.match(expand(raw, env.variables), {
        onSuccess: (value) => parse(value, quote),
        onFailure: (names) => Result.fail([unknownVariables(raw, names)]),
      })
  // Split after expansion: no variable's value holds a comma.
  const subjectList = attribute(
    StringList,
    (raw) => Result.map(expanded(V.text)(raw), V.escapedList),
    joinEscaped,
  )

  return Schema.Struct({
    [K.IssuerNameKey]: attribute(Schema.String, plain(V.text), same),
    [K.IssuerKindKey]: attribute(Schema.String, plain(V.text), same),
    [K.IssuerGroupKey]: attribute(Schema.String, plain(V.text), same),
    [K.CommonNameKey]: attribute(Schema.String, expanded(V.text), same),
    [K.LiteralSubjectKey]: attribute(Schema.String, expanded(V.literalSubject), same),
    [K.OrganizationsKey]: subjectList,
    [K.OrganizationalUnitsKey]: subjectList,
    [K.CountriesKey]: subjectList,
    [K.ProvincesKey]: subjectList,
    [K.LocalitiesKey]: subjectList,
    [K.StreetAddressesKey]: subjectList,
    [K.PostalCodesKey]: subjectList,
    [K.SerialNumberKey]: attribute(Schema.String, plain(V.text), same),
    [K.DnsNamesKey]: attribute(StringList, expanded(V.dnsNames), joinList),
    [K.IpSansKey]: attribute(StringList, plain(V.ipAddresses), joinList),
    [K.UriSansKey]: attribute(StringList, expanded(V.uris), joinList),
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

/**
 * The rules that span attributes (key size by algorithm, distinct file names,
 * PKCS#12 settings, renew-before within the duration, literal subject against the
 * subject fields, something to certify), each resolving the defaults it governs.
 * A rule whose input attribute was already reported as invalid stays quiet about it.
 */
import { Duration, Result } from "effect"
import type * as Redacted from "effect/Redacted"
import { formatGoDuration } from "./duration.js"
import type { AttributeProblem } from "./errors.js"
import * as K from "./keys.js"
import type { Quote } from "./quote.js"
import type { Attributes } from "./schema.js"
import type { IssuerRef, KeyAlgorithm, KeySpec, OutputFiles, Pkcs12Spec, Subject } from "./spec.js"
import * as V from "./values.js"

/** What the rules look at: the decoded attributes and what happened to each one. */
export interface RuleInput {
  /** The attributes that decoded; an invalid one is absent here and listed in `failed`. */
  readonly attributes: Attributes
  /** Raw values of the attributes given (non-empty), for quoting in messages. */
  readonly raw: Readonly<Partial<Record<K.AttributeKey, string>>>
  /** Attributes already reported as invalid. */
  readonly failed: ReadonlySet<K.AttributeKey>
  readonly quote: Quote
}

/** A resolved value, or the problems found (empty when an earlier problem already covers it). */
export type Resolved<A> = Result.Result<A, ReadonlyArray<AttributeProblem>>

const given = (input: RuleInput, key: K.AttributeKey): boolean => input.raw[key] !== undefined
const problem = (attribute: string, message: string): AttributeProblem => ({ attribute, message })
const failWith = (problems: ReadonlyArray<AttributeProblem>): Resolved<never> => Result.fail(problems)
// Resolves to `value` unless there are problems (or an input was invalid, `blocked`).
const resolve = <A>(
  problems: ReadonlyArray<AttributeProblem>,
  value: () => A,
  blocked = false,
): Resolved<A> => (problems.length > 0 || blocked ? failWith(problems) : Result.succeed(value()))

export const Defaults = {
  issuerKind: "Issuer",
  issuerGroup: "cert-manager.io",
  duration: Duration.hours(720),
  usages: ["digital signature", "key encipherment"],
  keyAlgorithm: "RSA",
  certificateFile: "tls.crt",
  privateKeyFile: "tls.key",
  caFile: "ca.crt",
  pkcs12File: "keystore.p12",
  pkcs12Profile: "LegacyRC2",
} as const

export const issuerRef = (input: RuleInput): Resolved<IssuerRef> => {
  const a = input.attributes
  const name = a[K.IssuerNameKey]
  if (name === undefined && input.failed.has(K.IssuerNameKey)) return failWith([])
  if (name === undefined) {
    return failWith([
      problem(
        K.IssuerNameKey,
        `is required; set it to the name of the issuer that signs the certificate (an Issuer in the pod's namespace, or a ClusterIssuer with ${K.IssuerKindKey}: ClusterIssuer)`,
      ),
    ])
  }
  return Result.succeed({
    name,
    kind: a[K.IssuerKindKey] ?? Defaults.issuerKind,
    group: a[K.IssuerGroupKey] ?? Defaults.issuerGroup,
  })
}

const subjectKeys = [
  K.CommonNameKey,
  K.OrganizationsKey,
  K.OrganizationalUnitsKey,
  K.CountriesKey,
  K.ProvincesKey,
  K.LocalitiesKey,
  K.StreetAddressesKey,
  K.PostalCodesKey,
  K.SerialNumberKey,
] as const

export const subject = (
  input: RuleInput,
): Resolved<{ readonly literalSubject: string | undefined; readonly subject: Subject }> => {
  const a = input.attributes
  const problems: Array<AttributeProblem> = []
  if (given(input, K.LiteralSubjectKey)) {
    const alsoGiven = subjectKeys.filter((key) => given(input, key))
    if (alsoGiven.length > 0) {
      problems.push(
        problem(
          K.LiteralSubjectKey,
          `cannot be combined with ${V.oneOf(alsoGiven, "and")}, which it replaces; remove ${alsoGiven.length === 1 ? "that attribute (moving its value" : "those attributes (moving their values"} into the literal subject) or remove ${K.LiteralSubjectKey}`,
        ),
      )
    }
  }
  const commonName = a[K.CommonNameKey]
  const serialNumber = a[K.SerialNumberKey]
  return resolve(problems, () => ({
    literalSubject: a[K.LiteralSubjectKey],
    subject: {
      ...(commonName === undefined ? {} : { commonName }),
      organizations: a[K.OrganizationsKey] ?? [],
      organizationalUnits: a[K.OrganizationalUnitsKey] ?? [],
      countries: a[K.CountriesKey] ?? [],
      provinces: a[K.ProvincesKey] ?? [],
      localities: a[K.LocalitiesKey] ?? [],
      streetAddresses: a[K.StreetAddressesKey] ?? [],
      postalCodes: a[K.PostalCodesKey] ?? [],
      ...(serialNumber === undefined ? {} : { serialNumber }),
    },
  }))
}

const identityKeys = [K.CommonNameKey, K.LiteralSubjectKey, K.DnsNamesKey, K.IpSansKey, K.UriSansKey] as const

/** The certificate must name something: a subject or at least one SAN. */
export const identity = (input: RuleInput): Resolved<void> => {
  const a = input.attributes
  const names = (key: (typeof identityKeys)[number]): boolean => {
    if (input.failed.has(key)) return true
    const value = a[key]
    return value !== undefined && (typeof value === "string" || value.length > 0)
  }
  return identityKeys.some(names)
    ? Result.succeed(undefined)
    : failWith([
        problem(
          K.RequestField,
          `the certificate would name nothing; set at least one of ${V.oneOf(identityKeys)}`,
        ),
      ])
}

const rsaSizes = { min: 2048, max: 8192 }
const ecdsaSizes = [256, 384, 521]

export const key = (input: RuleInput): Resolved<KeySpec> => {
  const a = input.attributes
  if (input.failed.has(K.KeyAlgorithmKey)) return failWith([])
  const algorithm: KeyAlgorithm = a[K.KeyAlgorithmKey] ?? Defaults.keyAlgorithm
  const problems: Array<AttributeProblem> = []
  const requested = a[K.KeySizeKey]
  const shownSize = input.quote(input.raw[K.KeySizeKey] ?? "")
  let size = 0
  if (algorithm === "RSA") {
    size = requested ?? rsaSizes.min
    if (size < rsaSizes.min || size > rsaSizes.max) {
      problems.push(
        problem(
          K.KeySizeKey,
          `${shownSize} is not valid for RSA; use an integer from ${rsaSizes.min} to ${rsaSizes.max}`,
        ),
      )
    }
  } else if (algorithm === "ECDSA") {
    size = requested ?? ecdsaSizes[0]!
    if (!ecdsaSizes.includes(size)) {
      problems.push(
        problem(K.KeySizeKey, `${shownSize} is not valid for ECDSA; use ${V.oneOf(ecdsaSizes.map(String))}`),
      )
    }
  } else if (requested !== undefined) {
    problems.push(
      problem(
        K.KeySizeKey,
        `${shownSize} cannot be used with Ed25519, whose keys have a fixed size; remove ${K.KeySizeKey}`,
      ),
    )
  }
  const encoding = a[K.KeyEncodingKey] ?? (algorithm === "RSA" ? "PKCS1" : "PKCS8")
  if (encoding === "PKCS1" && algorithm !== "RSA") {
    problems.push(
      problem(
        K.KeyEncodingKey,
        `${input.quote("PKCS1")} is only for RSA keys; use PKCS8 with ${algorithm} keys (or leave it out)`,
      ),
    )
  }
  const blocked = input.failed.has(K.KeySizeKey) || input.failed.has(K.KeyEncodingKey)
  return resolve(problems, () => ({ algorithm, size, encoding }), blocked)
}

/** The certificate's lifetime and the margin before its end at which to renew. */
export const lifetime = (
  input: RuleInput,
): Resolved<{
  readonly duration: Duration.Duration
  readonly renewBefore: Duration.Duration | undefined
}> => {
  const a = input.attributes
  if (input.failed.has(K.DurationKey) || input.failed.has(K.RenewBeforeKey)) return failWith([])
  const duration = a[K.DurationKey] ?? Defaults.duration
  const renewBefore = a[K.RenewBeforeKey]
  const problems: Array<AttributeProblem> = []
  if (renewBefore !== undefined && Duration.isGreaterThanOrEqualTo(renewBefore, duration)) {
    const of = given(input, K.DurationKey)
      ? `${K.DurationKey} ${input.quote(input.raw[K.DurationKey] ?? "")}`
      : `${formatGoDuration(duration)}, the default`
    const third = formatGoDuration(Duration.nanos(Duration.toNanosUnsafe(duration) / 3n))
    problems.push(
      problem(
        K.RenewBeforeKey,
        `${input.quote(input.raw[K.RenewBeforeKey] ?? "")} is not shorter than the certificate's duration (${of}); use a shorter margin, such as ${third} (a third of it), or leave it out`,
      ),
    )
  }
  return resolve(problems, () => ({ duration, renewBefore }))
}

/**
 * The PKCS#12 keystore, when enabled. Its other attributes without any `pkcs12-enable` are refused
 * (a forgotten switch); with `pkcs12-enable: "false"` they are ignored, as upstream does, so a
 * manifest that turns the keystore off keeps working.
 */
export const pkcs12 = (input: RuleInput): Resolved<Pkcs12Spec | undefined> => {
  const a = input.attributes
  if (input.failed.has(K.Pkcs12EnableKey)) return failWith([])
  const problems: Array<AttributeProblem> = []
  if (a[K.Pkcs12EnableKey] === false) return resolve(problems, () => undefined)
  if (a[K.Pkcs12EnableKey] !== true) {
    for (const key of [K.Pkcs12FilenameKey, K.Pkcs12PasswordKey, K.Pkcs12ProfileKey] as const) {
      if (given(input, key)) {
        problems.push(
          problem(key, `is only used when ${K.Pkcs12EnableKey} is "true"; set that too, or remove ${key}`),
        )
      }
    }
    return resolve(problems, () => undefined)
  }
  const password: Redacted.Redacted<string> | undefined = a[K.Pkcs12PasswordKey]
  if (password === undefined) {
    problems.push(
      problem(
        K.Pkcs12PasswordKey,
        `is required when ${K.Pkcs12EnableKey} is "true"; set the password that protects the keystore`,
      ),
    )
  }
  const blocked = input.failed.has(K.Pkcs12FilenameKey) || input.failed.has(K.Pkcs12ProfileKey)
  return resolve(
    problems,
    () => ({
      filename: a[K.Pkcs12FilenameKey] ?? Defaults.pkcs12File,
      password: password!,
      profile: a[K.Pkcs12ProfileKey] ?? Defaults.pkcs12Profile,
    }),
    blocked,
  )
}

/** The output file names, which must all differ (the keystore's too, when enabled). */
export const files = (input: RuleInput): Resolved<OutputFiles> => {
  const a = input.attributes
  type FileKey =
    | typeof K.CertificateFileKey
    | typeof K.PrivateKeyFileKey
    | typeof K.CaFileKey
    | typeof K.Pkcs12FilenameKey
  const output = (key: FileKey, fallback: string) => ({ key, name: a[key] ?? fallback })
  const outputs = [
    output(K.CertificateFileKey, Defaults.certificateFile),
    output(K.PrivateKeyFileKey, Defaults.privateKeyFile),
    output(K.CaFileKey, Defaults.caFile),
    ...(a[K.Pkcs12EnableKey] === true ? [output(K.Pkcs12FilenameKey, Defaults.pkcs12File)] : []),
  ].filter((o) => !input.failed.has(o.key))
  const problems: Array<AttributeProblem> = []
  outputs.forEach((later, j) => {
    for (const earlier of outputs.slice(0, j)) {
      if (earlier.name !== later.name) continue
      // Blame the attribute that was set: two defaults never collide.
      const [blamed, other] = given(input, later.key) ? [later, earlier] : [earlier, later]
      problems.push(
        problem(
          blamed.key,
          `${input.quote(blamed.name)} is also the name of ${other.key}${given(input, other.key) ? "" : " (its default)"}; give every file its own name`,
        ),
      )
    }
  })
  const blocked = ([K.CertificateFileKey, K.PrivateKeyFileKey, K.CaFileKey] as const).some((k) =>
    input.failed.has(k),
  )
  return resolve(
    problems,
    () => ({
      certificate: a[K.CertificateFileKey] ?? Defaults.certificateFile,
      privateKey: a[K.PrivateKeyFileKey] ?? Defaults.privateKeyFile,
      ca: a[K.CaFileKey] ?? Defaults.caFile,
    }),
    blocked,
  )
}

/**
 * The group owning the files: `fs-group`, else the pod's fsGroup from kubelet's
 * `volume_mount_group`. A pod fsGroup of 0 (root) leaves the files as they are.
 */
export const fsGroup = (
  input: RuleInput,
  volumeMountGroup: string | undefined,
): Resolved<number | undefined> => {
  if (input.failed.has(K.FsGroupKey)) return failWith([])
  const explicit = input.attributes[K.FsGroupKey]
  if (explicit !== undefined) return Result.succeed(explicit)
  if (volumeMountGroup === undefined || volumeMountGroup === "" || volumeMountGroup === "0") {
    return Result.succeed(undefined)
  }
  return Result.mapError(V.groupId(volumeMountGroup, input.quote), () => [
    problem(
      K.VolumeMountGroupField,
      `the pod's fsGroup ${input.quote(volumeMountGroup)} is not a group ID the driver can use; set securityContext.fsGroup to an integer from 1 to ${V.MaxGroupId}, or set ${K.FsGroupKey}`,
    ),
  ])
}

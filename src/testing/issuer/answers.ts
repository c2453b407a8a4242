/**
 * What the sandbox issuer writes into a Ready CertificateRequest's `status.certificate`
 * and `status.ca` (both base64 of PEM, as the API carries them) for each answering
 * behaviour: a good signature by the sandbox CA or through an intermediate it signed,
 * or one of the unusable answers tests need (`BadAnswer`). The real API server and
 * the in-memory fake share this, so both answer alike.
 */
import { generateKeyPairSync } from "node:crypto"
import { Clock, Duration, Effect, Redacted } from "effect"
import { oid, pem, sequence, setOf, utf8String } from "../../pki/der.js"
import { KeyUsageBits } from "../../pki/usages.js"
import type { KubeObject } from "../api-server/objects.js"
import type { BadAnswer, IssuerBehaviour } from "./behaviour.js"
import { type CertificateAuthority, generateCa, loadCa, signLeaf } from "./ca.js"
import { malformedCertificate, type SignFailure, signCertificateRequest } from "./sign.js"

/** `status.certificate` and `status.ca`, base64. */
export interface Answer {
  readonly certificate: string
  readonly ca: string
}

/** The behaviours that end in Ready=True. */
export type Answering = Extract<IssuerBehaviour, { readonly _tag: "Sign" | "Malformed" | "BadAnswer" }>

export interface Authorities {
  readonly root: Effect.Effect<CertificateAuthority>
  /** A CA of its own, for answers signed by another CA than `status.ca`'s. */
  readonly other: Effect.Effect<CertificateAuthority>
  /** A CA that `root` signed, for answers through an intermediate. */
  readonly intermediate: Effect.Effect<CertificateAuthority>
}

const day = Duration.toMillis(Duration.days(1))
const hour = Duration.toMillis(Duration.hours(1))

const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64")
const text = (base64: string): string => Buffer.from(base64, "base64").toString("utf8")
const caOf = (ca: CertificateAuthority): string => b64(`${ca.certificatePem.trimEnd()}\n`)

const commonName = (cn: string) => sequence(setOf([sequence(oid("2.5.4.3"), utf8String(cn))]))

/** An ECDSA P-256 CA signed by `root`, valid from an hour ago until the root expires. */
const makeIntermediate = (root: CertificateAuthority) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const keys = generateKeyPairSync("ec", { namedCurve: "prime256v1" })
    const der = yield* signLeaf(root, {
      subject: commonName("cert-manager-csi-driver sandbox intermediate CA"),
      subjectPublicKeyInfo: keys.publicKey.export({ type: "spki", format: "der" }),
      notBefore: new Date(now - hour),
      notAfter: root.certificate.notAfter,
      isCA: true,
      keyUsages:
        (1 << KeyUsageBits.keyCertSign) | (1 << KeyUsageBits.cRLSign) | (1 << KeyUsageBits.digitalSignature),
      extKeyUsages: [],
    })
    return yield* loadCa({
      certificatePem: pem("CERTIFICATE", der),
      privateKeyPem: Redacted.make(keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString()),
    })
  })

/** The sandbox's CAs, each made (or `root` run) once, on first use. */
export const makeAuthorities = (makeRoot: Effect.Effect<CertificateAuthority>): Effect.Effect<Authorities> =>
  Effect.gen(function* () {
    const root = yield* Effect.cached(makeRoot)
    const other = yield* Effect.cached(Effect.orDie(generateCa("cert-manager-csi-driver another CA")))
    const intermediate = yield* Effect.cached(Effect.orDie(Effect.flatMap(root, makeIntermediate)))
    return { root, other, intermediate }
  })

/** Runs `effect` on a clock `millis` ahead (or behind): how the issuer dates a certificate wrongly. */
const onClockShiftedBy =
  (millis: number) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Clock.clockWith((clock) =>
      Effect.provideService(effect, Clock.Clock, {
        currentTimeMillisUnsafe: () => clock.currentTimeMillisUnsafe() + millis,
        currentTimeMillis: Effect.map(clock.currentTimeMillis, (now) => now + millis),
        currentTimeNanosUnsafe: () => clock.currentTimeNanosUnsafe() + BigInt(millis) * 1_000_000n,
        currentTimeNanos: Effect.map(clock.currentTimeNanos, (now) => now + BigInt(millis) * 1_000_000n),
        monotonicTimeNanosUnsafe: () => clock.monotonicTimeNanosUnsafe(),
        monotonicTimeNanos: clock.monotonicTimeNanos,
        sleep: (duration) => clock.sleep(duration),
      }),
    )

const withDuration = (cr: KubeObject, duration: string): KubeObject => ({
  ...cr,
  spec: { ...(typeof cr.spec === "object" && cr.spec !== null ? cr.spec : {}), duration },
})

/** A PKCS#8 block of a throwaway key: what an issuer leaking a key into the chain would send. */
const privateKeyBlock = (): string =>
  generateKeyPairSync("ec", { namedCurve: "prime256v1" })
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString()

const badAnswer = (authorities: Authorities, cr: KubeObject, answer: BadAnswer) =>
  Effect.gen(function* () {
    const root = yield* authorities.root
    const ca = caOf(root)
    switch (answer) {
      case "expired": {
        const signed = yield* onClockShiftedBy(-day)(signCertificateRequest(root, withDuration(cr, "1h")))
        return { certificate: signed.certificate, ca }
      }
      case "not-yet-valid": {
        const signed = yield* onClockShiftedBy(day)(signCertificateRequest(root, cr))
        return { certificate: signed.certificate, ca }
      }
      case "wrong-ca": {
        const signed = yield* signCertificateRequest(yield* authorities.other, cr)
        return { certificate: signed.certificate, ca }
      }
      case "trailing-data": {
        const signed = yield* signCertificateRequest(root, cr)
        return { certificate: b64(`${text(signed.certificate)}issued by the sandbox\n`), ca }
      }
      case "junk-between-blocks": {
        const signed = yield* signCertificateRequest(root, cr)
        return { certificate: b64(`${signed.certificatePem}junk\n${text(ca)}`), ca }
      }
      case "empty-certificate":
        return { certificate: "", ca }
      case "not-a-certificate": {
        const signed = yield* signCertificateRequest(root, cr)
        return { certificate: b64(`${signed.certificatePem}${privateKeyBlock()}`), ca }
      }
    }
  })

/** The Ready answer a behaviour gives; a SignFailure is for Ready=False, reason Failed. */
export const answerFor = (
  authorities: Authorities,
  cr: KubeObject,
  behaviour: Answering,
): Effect.Effect<Answer, SignFailure> =>
  Effect.gen(function* () {
    switch (behaviour._tag) {
      case "Sign": {
        if (behaviour.viaIntermediate !== true)
          return yield* signCertificateRequest(yield* authorities.root, cr)
        const signed = yield* signCertificateRequest(yield* authorities.intermediate, cr)
        return { certificate: signed.certificate, ca: caOf(yield* authorities.root) }
      }
      case "Malformed":
        return { certificate: malformedCertificate(), ca: caOf(yield* authorities.root) }
      case "BadAnswer":
        return yield* badAnswer(authorities, cr, behaviour.answer)
    }
  })

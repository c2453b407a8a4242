/**
 * Writes the PKCS#12 keystore (RFC 7292) cert-manager writes for `keystores.pkcs12`,
 * laid out as go-pkcs12's `Encoder.Encode` lays it out: one encrypted SafeContents
 * with the leaf and chain as cert bags, one plain SafeContents with the key as a
 * shrouded key bag, localKeyId = SHA-1 of the leaf on both, and a password MAC.
 */
import * as crypto from "node:crypto"
import { Effect, Redacted } from "effect"
import type { Pkcs12Profile } from "../attributes/spec.js"
import * as Der from "./der.js"
import { Pkcs12Error } from "./errors.js"
import type { PrivateKey } from "./keys.js"
import * as Pbe from "./pbe.js"

type Scheme = (input: Pbe.PbeInput) => Pbe.Encrypted

interface Profile {
  readonly certificates: Scheme
  readonly key: Scheme
  readonly mac: Pbe.MacHash
  readonly macIterations: number
  readonly iterations: number
  readonly saltLength: number
}

/** go-pkcs12's LegacyRC2, LegacyDES and Modern2023 encoders. */
const profiles: Record<Pkcs12Profile, Profile> = {
  LegacyRC2: {
    certificates: Pbe.pbeSha1Rc2_40,
    key: Pbe.pbeSha1TripleDes,
    mac: "sha1",
    macIterations: 1,
    iterations: 2048,
    saltLength: 8,
  },
  LegacyDES: {
    certificates: Pbe.pbeSha1TripleDes,
    key: Pbe.pbeSha1TripleDes,
    mac: "sha1",
    macIterations: 1,
    iterations: 2048,
    saltLength: 8,
  },
  Modern2023: {
    certificates: Pbe.pbes2Aes256,
    key: Pbe.pbes2Aes256,
    mac: "sha256",
    macIterations: 2048,
    iterations: 2048,
    saltLength: 16,
  },
}

const Oids = {
  data: "1.2.840.113549.1.7.1",
  encryptedData: "1.2.840.113549.1.7.6",
  certBag: "1.2.840.113549.1.12.10.1.3",
  shroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  localKeyId: "1.2.840.113549.1.9.21",
} as const

export interface Pkcs12Input {
  readonly key: PrivateKey
  /** The leaf first, then any chain the issuer appended. */
  readonly certificatePem: string
  /** The CA bundle; may be "". */
  readonly caPem: string
  readonly password: Redacted.Redacted<string>
  readonly profile: Pkcs12Profile
}

const certificateBlock = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

// Adapter: the X509Certificate constructor throws on anything it cannot read.
const certificateDer = (block: string): Uint8Array | undefined => {
  try {
    return new crypto.X509Certificate(block).raw
  } catch {
    return undefined
  }
}

/** Every certificate in a PEM text as DER; undefined if any block is unreadable. */
const certificatesDer = (pem: string): ReadonlyArray<Uint8Array> | undefined => {
  const out: Array<Uint8Array> = []
  for (const block of pem.match(certificateBlock) ?? []) {
    const der = certificateDer(block)
    if (der === undefined) return undefined
    out.push(der)
  }
  return out
}

const dataContentInfo = (content: Uint8Array) =>
  Der.sequence(Der.oid(Oids.data), Der.explicit(0, Der.octetString(content)))

const encryptedContentInfo = (encrypted: Pbe.Encrypted) =>
  Der.sequence(
    Der.oid(Oids.encryptedData),
    Der.explicit(
      0,
      Der.sequence(
        Der.integer(0),
        Der.sequence(Der.oid(Oids.data), encrypted.algorithm, Der.implicitPrimitive(0, encrypted.ciphertext)),
      ),
    ),
  )

const safeBag = (bagId: string, value: Uint8Array, attributes: ReadonlyArray<Uint8Array>) =>
  attributes.length === 0
    ? Der.sequence(Der.oid(bagId), Der.explicit(0, value))
    : Der.sequence(Der.oid(bagId), Der.explicit(0, value), Der.setOf(attributes))

const certBag = (der: Uint8Array, attributes: ReadonlyArray<Uint8Array>) =>
  safeBag(
    Oids.certBag,
    Der.sequence(Der.oid(Oids.x509Certificate), Der.explicit(0, Der.octetString(der))),
    attributes,
  )

const fail = (reason: Pkcs12Error["reason"], message: string) =>
  Effect.fail(new Pkcs12Error({ reason, message }))

/** Encodes key, leaf, chain and CA into a password-protected PKCS#12 file in the given profile. */
export const encodePkcs12 = Effect.fnUntraced(function* (input: Pkcs12Input) {
  const profile = profiles[input.profile]
  const password = Pbe.encodePassword(Redacted.value(input.password))
  if (password === undefined) {
    return yield* fail(
      "InvalidPassword",
      "the PKCS#12 password has characters outside the Basic Multilingual Plane",
    )
  }
  const chain = certificatesDer(input.certificatePem)
  const leaf = chain?.[0]
  if (chain === undefined || leaf === undefined) {
    return yield* fail("InvalidCertificate", "the certificate is not a parsable PEM certificate")
  }
  const cas = certificatesDer(input.caPem)
  if (cas === undefined)
    return yield* fail("InvalidCertificate", "the CA is not a parsable PEM certificate bundle")
  const keyDer = yield* Effect.try({
    try: () => input.key.keyObject.export({ type: "pkcs8", format: "der" }),
    catch: () =>
      new Pkcs12Error({ reason: "InvalidKey", message: "the private key could not be PKCS#8-encoded" }),
  })

  return yield* Effect.try({
    try: () => {
      const salt = () => crypto.randomBytes(profile.saltLength)
      const localKeyId = Der.sequence(
        Der.oid(Oids.localKeyId),
        Der.setOf([Der.octetString(crypto.hash("sha1", leaf, "buffer"))]),
      )
      const certBags = [
        certBag(leaf, [localKeyId]),
        ...[...chain.slice(1), ...cas].map((der) => certBag(der, [])),
      ]
      const shrouded = profile.key({
        plaintext: keyDer,
        password,
        salt: salt(),
        iterations: profile.iterations,
      })
      const keyBag = safeBag(
        Oids.shroudedKeyBag,
        Der.sequence(shrouded.algorithm, Der.octetString(shrouded.ciphertext)),
        [localKeyId],
      )
      const certificates = profile.certificates({
        plaintext: Der.sequence(...certBags),
        password,
        salt: salt(),
        iterations: profile.iterations,
      })
      const authenticatedSafe = Der.sequence(
        encryptedContentInfo(certificates),
        dataContentInfo(Der.sequence(keyBag)),
      )
      const mac = Pbe.macData({
        hash: profile.mac,
        content: authenticatedSafe,
        password: password.bmp,
        salt: salt(),
        iterations: profile.macIterations,
      })
      return Der.sequence(Der.integer(3), dataContentInfo(authenticatedSafe), mac)
    },
    catch: () =>
      new Pkcs12Error({ reason: "EncodingFailed", message: "the PKCS#12 file could not be encoded" }),
  })
})

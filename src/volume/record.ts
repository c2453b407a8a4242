/**
 * What the driver keeps about a volume across restarts, and how it gets the
 * certificate spec back from it. Metadata holds the inputs of the spec (the
 * attributes, the pod, its fsGroup), never a secret: the PKCS#12 password lives
 * in its own root-only file beside the pending key, and tokens stay in memory.
 */
import { Effect, Option, Redacted } from "effect"
import { type InvalidAttributes, parseAttributes } from "../attributes/index.js"
import { Pkcs12PasswordKey } from "../attributes/keys.js"
import type { CertificateSpec } from "../attributes/spec.js"
import type { PublishRequest } from "../csi/request.js"
import type { StorageError } from "./errors.js"
import { type VolumeMetadata, VolumeStore } from "./store.js"

export const secretFiles = {
  /** The private key of a request still in flight, so a restart can resume it. */
  pendingKey: "pending.key",
  pkcs12Password: "pkcs12-password",
} as const

export interface VolumeRecord {
  readonly metadata: VolumeMetadata
  readonly pkcs12Password: Redacted.Redacted<string> | undefined
}

export const recordOf = (request: PublishRequest, createdAt: Date): VolumeRecord => {
  const { [Pkcs12PasswordKey]: password, ...attributes } = request.attributes
  return {
    metadata: {
      volumeId: request.volumeId,
      targetPath: request.targetPath,
      pod: request.pod,
      attributes,
      ...(request.volumeMountGroup === undefined ? {} : { volumeMountGroup: request.volumeMountGroup }),
      createdAt: createdAt.toISOString(),
    },
    pkcs12Password: password === undefined ? undefined : Redacted.make(password),
  }
}

/**
 * Decodes the spec again from what was stored: the same rules as at publish time. The
 * publish's decode is remembered for this one, which takes it: the next issuance of the
 * volume (a renewal, days on) decodes afresh.
 */
export const specOf = (
  metadata: VolumeMetadata,
): Effect.Effect<CertificateSpec, InvalidAttributes | StorageError, VolumeStore> =>
  Effect.gen(function* () {
    const store = yield* VolumeStore
    const password = yield* store.readSecret(metadata.volumeId, secretFiles.pkcs12Password)
    const attributes = Option.match(password, {
      onNone: () => metadata.attributes,
      onSome: (value) => ({ ...metadata.attributes, [Pkcs12PasswordKey]: Redacted.value(value) }),
    })
    return yield* parseAttributes(attributes, metadata.pod, metadata.volumeMountGroup, true)
  })

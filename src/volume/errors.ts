/** Errors of the volume layer: local storage and mounts, and per-volume contention. */
import { Schema } from "effect"
import { ServiceAccountTokensKey } from "../attributes/keys.js"

/** A filesystem operation under the data root failed; the message has path and errno. */
export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  operation: Schema.String,
  path: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `${this.operation} ${this.path}: ${this.reason}`
  }
}

/** mount/umount failed; the message has the target and what the kernel said (both cut: a target may be 4 KiB). */
export class MountError extends Schema.TaggedError<MountError>()("MountError", {
  operation: Schema.String,
  target: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `${this.operation} ${cut(this.target, 300)}: ${cut(this.reason, 1200)}`
  }
}

/** `text`, or its first `chars` characters and how much was cut. */
const cut = (text: string, chars: number) =>
  text.length <= chars ? text : `${text.slice(0, chars)}… (${text.length - chars} more characters)`

/** Another operation on the same volume did not finish before this call's deadline. */
export class VolumeBusy extends Schema.TaggedError<VolumeBusy>()("VolumeBusy", {
  volumeId: Schema.String,
}) {
  override get message(): string {
    return `another operation on volume ${this.volumeId} is still in progress; retry`
  }
}

/** --use-token-request is on but kubelet sent no token for the API server audience. */
export class TokenMissing extends Schema.TaggedError<TokenMissing>()("TokenMissing", {}) {
  override get message(): string {
    return `the driver runs with --use-token-request but kubelet sent no service account token (${ServiceAccountTokensKey}): set tokenRequests: [{audience: ""}] on the CSIDriver object`
  }
}

/** Reason text of a thrown Node.js error, with its errno code when it has one. */
export const reasonOf = (cause: unknown): string => {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code
    return code !== undefined && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message
  }
  return String(cause)
}

/** A bug (a defect) stopped a volume's issuance; the details are in the driver's log. */
export class InternalError extends Schema.TaggedError<InternalError>()("InternalError", {
  volumeId: Schema.String,
}) {
  override get message(): string {
    return `internal error while issuing volume ${this.volumeId}; the driver's log has the details`
  }
}

/** The pod watch showed the volume's pod deleted or replaced: the volume gets no certificate. */
export class PodGone extends Schema.TaggedError<PodGone>()("PodGone", {
  volumeId: Schema.String,
  pod: Schema.String,
}) {
  override get message(): string {
    return `pod ${cut(this.pod, 320)} was deleted or replaced by another pod of that name: volume ${cut(this.volumeId, 80)} gets no certificate, and kubelet unmounts it with the pod`
  }
}

/**
 * Validates kubelet's NodePublishVolume / NodeUnpublishVolume requests before
 * anything is created, and turns them into the typed requests the volume programs
 * take. Every problem of a request is reported at once, in words that say what the
 * pod spec or the CSIDriver object must say instead.
 */
import { Effect, Schema } from "effect"
import {
  EphemeralKey,
  PodNameKey,
  PodNamespaceKey,
  PodUidKey,
  ServiceAccountNameKey,
  ServiceAccountTokensKey,
} from "../attributes/keys.js"
import type { PodInfo } from "../attributes/spec.js"
import { joinWithin } from "../bounded.js"
import type { NodePublishVolumeRequest__Output } from "../gen/csi/v1/NodePublishVolumeRequest.js"
import type { NodeUnpublishVolumeRequest__Output } from "../gen/csi/v1/NodeUnpublishVolumeRequest.js"
import type { CallContext } from "./bridge.js"
import { quoteCut, targetPathProblem } from "./target-path.js"
import { type ServiceAccountToken, tokenFor } from "./token.js"

export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  problems: Schema.Array(Schema.String),
}) {
  /** The first problems that fit, then how many more there are. */
  override get message(): string {
    return joinWithin(this.problems, { separator: "; ", noun: "problem" })
  }
}

export interface PublishRequest {
  readonly volumeId: string
  readonly targetPath: string
  /** `volume_context`: the attributes plus kubelet's pod keys, without the token. */
  readonly attributes: Readonly<Record<string, string>>
  readonly pod: PodInfo
  /** The pod's fsGroup, when kubelet passes one (VOLUME_MOUNT_GROUP). */
  readonly volumeMountGroup: string | undefined
  /** The pod's service-account token for the API server audience, when kubelet sends one. */
  readonly token: ServiceAccountToken | undefined
  /** Absolute deadline (epoch ms) of the call, if any. */
  readonly deadline: number | undefined
}

export interface UnpublishRequest {
  readonly volumeId: string
  readonly targetPath: string
  readonly deadline: number | undefined
}

const podKeys = {
  name: PodNameKey,
  namespace: PodNamespaceKey,
  uid: PodUidKey,
  serviceAccountName: ServiceAccountNameKey,
} as const

const required = (value: string, field: string, problems: Array<string>) => {
  if (value === "") problems.push(`${field} is required`)
}

const targetPathProblems = (targetPath: string, dataRoot: string, problems: Array<string>) => {
  const problem = targetPathProblem(targetPath, [dataRoot])
  if (problem !== undefined) problems.push(problem)
}

/**
 * The access modes of a volume published once, on one node. Kubelet sends SINGLE_NODE_WRITER
 * for an inline ephemeral volume (its ReadWriteOnce, for drivers without the
 * SINGLE_NODE_MULTI_WRITER capability, which we do not advertise); SINGLE_NODE_READER_ONLY
 * describes exactly what we serve (always read-only), so other COs may ask for it. The
 * MULTI_NODE modes promise sharing across nodes that a per-pod tmpfs cannot give, and the
 * spec leaves SINGLE_NODE_SINGLE_WRITER / SINGLE_NODE_MULTI_WRITER to plugins that
 * advertise SINGLE_NODE_MULTI_WRITER, so a CO must not send them to us.
 */
const acceptedAccessModes: ReadonlySet<string> = new Set(["SINGLE_NODE_WRITER", "SINGLE_NODE_READER_ONLY"])

const capabilityProblems = (
  capability: NodePublishVolumeRequest__Output["volume_capability"],
  problems: Array<string>,
) => {
  if (capability === null) {
    problems.push("volume_capability is required")
    return
  }
  if (capability.access_type === "block") {
    problems.push(
      "volume_capability asks for a block volume: block volumes are not supported; mount the volume as a filesystem (volumes[].csi in the pod spec)",
    )
  } else if (capability.access_type !== "mount") {
    problems.push(
      "volume_capability has no access type: it must be mount (a filesystem volume, as kubelet sends for volumes[].csi in the pod spec)",
    )
  }
  // An enum value this proto does not know arrives as its number.
  const mode = String(capability.access_mode?.mode ?? "UNKNOWN")
  if (!acceptedAccessModes.has(mode)) {
    problems.push(
      `volume_capability.access_mode ${mode === "UNKNOWN" ? "is required" : `${quoteCut(mode, 40)} is not supported`}: use SINGLE_NODE_WRITER (what kubelet sends for an inline ephemeral volume) or SINGLE_NODE_READER_ONLY; the volume is per pod, on one node`,
    )
  }
}

/** Volume ids name directories under the data root: kubelet's are `csi-<sha256>`. */
const volumeIdProblems = (volumeId: string, problems: Array<string>) => {
  required(volumeId, "volume_id", problems)
  if (volumeId !== "" && (!/^[A-Za-z0-9._-]{1,200}$/.test(volumeId) || /^\.\.?$/.test(volumeId))) {
    problems.push(`volume_id ${quoteCut(volumeId, 64)} must be 1-200 letters, digits, '.', '_' or '-'`)
  }
}

/** `dataRoot` is --data-root: no target may overlap it. */
export const decodePublish = (
  request: NodePublishVolumeRequest__Output,
  call: CallContext,
  dataRoot: string,
  options: { readonly useTokenRequest: boolean } = { useTokenRequest: true },
): Effect.Effect<PublishRequest, InvalidRequest> => {
  const problems: Array<string> = []
  volumeIdProblems(request.volume_id, problems)
  targetPathProblems(request.target_path, dataRoot, problems)
  const capability = request.volume_capability
  capabilityProblems(capability, problems)
  if (!request.readonly && capability !== null) {
    problems.push(
      "readonly is false: the volume must be mounted read-only; set readOnly: true on the csi volume in the pod spec",
    )
  }
  const context = request.volume_context
  if (context[EphemeralKey] !== "true") {
    problems.push(
      `this driver serves only inline ephemeral volumes: declare it under volumes[].csi in the pod spec (${EphemeralKey} must be "true"; persistent volumes are not supported)`,
    )
  }
  const pod = {
    name: context[podKeys.name] ?? "",
    namespace: context[podKeys.namespace] ?? "",
    uid: context[podKeys.uid] ?? "",
    serviceAccountName: context[podKeys.serviceAccountName] ?? "",
  }
  const missing = Object.entries(podKeys).filter(([field]) => pod[field as keyof typeof pod] === "")
  if (missing.length > 0) {
    problems.push(
      `kubelet sent no ${missing.map(([, key]) => key).join(", ")}: set podInfoOnMount: true on the CSIDriver object`,
    )
  }
  const token = tokenFor(context, request.secrets, options.useTokenRequest)
  if (token._tag === "Invalid") problems.push(token.problem)
  if (problems.length > 0) return Effect.fail(new InvalidRequest({ problems }))
  const mountGroup = capability?.mount?.volume_mount_group ?? ""
  // The token travels as Redacted from here on, never inside the attributes.
  const { [ServiceAccountTokensKey]: _token, ...attributes } = context
  return Effect.succeed({
    volumeId: request.volume_id,
    targetPath: request.target_path,
    attributes,
    pod,
    volumeMountGroup: mountGroup === "" ? undefined : mountGroup,
    token: token._tag === "Found" ? token.token : undefined,
    deadline: call.deadline,
  })
}

export const decodeUnpublish = (
  request: NodeUnpublishVolumeRequest__Output,
  call: CallContext,
  dataRoot: string,
): Effect.Effect<UnpublishRequest, InvalidRequest> => {
  const problems: Array<string> = []
  volumeIdProblems(request.volume_id, problems)
  targetPathProblems(request.target_path, dataRoot, problems)
  return problems.length > 0
    ? Effect.fail(new InvalidRequest({ problems }))
    : Effect.succeed({
        volumeId: request.volume_id,
        targetPath: request.target_path,
        deadline: call.deadline,
      })
}

/**
 * The parts of a v1 Pod the driver reads — its identity, IPs, conditions and
 * annotations — decoded with Schema from what the API serves (plain JSON from the
 * watch, client-node's model objects from the list), so a malformed pod is skipped,
 * never a crash.
 */
import { BlockList, isIPv4, isIPv6 } from "node:net"
import { Result, Schema } from "effect"
import type { ReadinessGate } from "../gates/gates.js"
import { isStruct, stringRecord } from "./plain-shapes.js"

const PodCondition = Schema.Struct({ type: Schema.String, status: Schema.String })

/** What the driver reads of a pod, as Schema; `decodePod` checks the same by hand. */
const PodObject = Schema.Struct({
  metadata: Schema.Struct({
    name: Schema.String,
    namespace: Schema.String,
    uid: Schema.String,
    resourceVersion: Schema.optional(Schema.String),
    annotations: Schema.optional(Schema.NullOr(Schema.Record(Schema.String, Schema.String))),
    // A string from the watch, a Date from client-node's list: only its presence matters.
    deletionTimestamp: Schema.optional(Schema.Unknown),
  }),
  status: Schema.optional(
    Schema.Struct({
      podIP: Schema.optional(Schema.NullOr(Schema.String)),
      podIPs: Schema.optional(Schema.NullOr(Schema.Array(Schema.Struct({ ip: Schema.String })))),
      conditions: Schema.optional(Schema.NullOr(Schema.Array(PodCondition))),
    }),
  ),
})

/** One pod on this node, as the driver sees it. */
export interface Pod {
  readonly metadata: {
    readonly namespace: string
    readonly name: string
    readonly uid: string
    readonly resourceVersion?: string | undefined
  }
  /** status.podIPs in order (status.podIP first, as the API keeps them); empty until the pod has one. */
  readonly ips: ReadonlyArray<string>
  readonly conditions: ReadonlyArray<{ readonly type: string; readonly status: string }>
  readonly annotations: Readonly<Record<string, string>>
  /** Has a deletionTimestamp: terminating, its volumes not yet unpublished. */
  readonly deleting: boolean
}

/** The pod's IPs: status.podIPs, or status.podIP alone from a server that sets only that. */
const ipsOf = (status: (typeof PodObject.Type)["status"]): ReadonlyArray<string> => {
  const listed = (status?.podIPs ?? []).map((entry) => entry.ip).filter((ip) => ip !== "")
  if (listed.length > 0) return listed
  const single = status?.podIP ?? ""
  return single === "" ? [] : [single]
}

const podOf = (object: typeof PodObject.Type): Pod => ({
  metadata: {
    namespace: object.metadata.namespace,
    name: object.metadata.name,
    uid: object.metadata.uid,
    resourceVersion: object.metadata.resourceVersion,
  },
  ips: ipsOf(object.status),
  conditions: object.status?.conditions ?? [],
  annotations: object.metadata.annotations ?? {},
  deleting: object.metadata.deletionTimestamp !== undefined && object.metadata.deletionTimestamp !== null,
})

/** The reference `decodePod` is held to: Schema's decode of `PodObject`, then the Pod. */
export const decodePodBySchema = (raw: unknown): Result.Result<Pod, Schema.SchemaError> =>
  Result.map(Schema.decodeUnknownResult(PodObject)(raw), podOf)

/**
 * `PodObject`'s decode, then the Pod: the same checks as `Schema.decodeUnknownResult(PodObject)`
 * (a test holds them to it) written out, at a fraction of the CPU of Schema's generic
 * interpreter, which ran for every pod event. The failure says only where.
 */
export const decodePod = (raw: unknown): Result.Result<Pod, string> => {
  if (!isStruct(raw)) return Result.fail("not an object")
  const metadata = raw.metadata
  if (!isStruct(metadata)) return Result.fail("metadata")
  const { name, namespace, uid, resourceVersion } = metadata
  if (typeof name !== "string" || typeof namespace !== "string" || typeof uid !== "string")
    return Result.fail("metadata")
  if (resourceVersion !== undefined && typeof resourceVersion !== "string") return Result.fail("metadata")
  const rawAnnotations = metadata.annotations
  const annotations =
    rawAnnotations === undefined || rawAnnotations === null ? {} : stringRecord(rawAnnotations)
  if (annotations === undefined) return Result.fail("metadata.annotations")
  let ips: ReadonlyArray<string> = []
  let conditions: Pod["conditions"] = []
  const status = raw.status
  if (status !== undefined) {
    if (!isStruct(status)) return Result.fail("status")
    const { podIP, podIPs } = status
    if (podIP !== undefined && podIP !== null && typeof podIP !== "string") return Result.fail("status.podIP")
    const listed: Array<string> = []
    if (podIPs !== undefined && podIPs !== null) {
      if (!Array.isArray(podIPs)) return Result.fail("status.podIPs")
      for (const entry of podIPs) {
        if (!isStruct(entry) || typeof entry.ip !== "string") return Result.fail("status.podIPs")
        if (entry.ip !== "") listed.push(entry.ip)
      }
    }
    ips = listed.length > 0 ? listed : typeof podIP === "string" && podIP !== "" ? [podIP] : []
    const rawConditions = status.conditions
    if (rawConditions !== undefined && rawConditions !== null) {
      if (!Array.isArray(rawConditions)) return Result.fail("status.conditions")
      const decoded: Array<Pod["conditions"][number]> = []
      for (const condition of rawConditions) {
        if (!isStruct(condition)) return Result.fail("status.conditions")
        const { type, status } = condition
        if (typeof type !== "string" || typeof status !== "string") return Result.fail("status.conditions")
        decoded.push({ type, status })
      }
      conditions = decoded
    }
  }
  const deletionTimestamp = metadata.deletionTimestamp
  return Result.succeed({
    metadata: { namespace, name, uid, resourceVersion },
    ips,
    conditions,
    annotations,
    deleting: deletionTimestamp !== undefined && deletionTimestamp !== null,
  })
}

const noConditions: Pod["conditions"] = []
const noAnnotations: Pod["annotations"] = {}

/**
 * What the node's pod cache keeps of each pod, given the readiness gates the driver judges:
 * the conditions and annotations those gates name, not all of them (an annotation such as
 * kubectl's last-applied-configuration alone can be KBs), for every pod on the node.
 */
export const keptFor = (gates: ReadonlyArray<ReadinessGate>): ((pod: Pod) => Pod) => {
  const conditionTypes = new Set(gates.flatMap((gate) => (gate._tag === "PodCondition" ? [gate.type] : [])))
  const annotationKeys = [
    ...new Set(gates.flatMap((gate) => (gate._tag === "PodAnnotation" ? [gate.key] : []))),
  ]
  return (pod) => {
    const conditions = pod.conditions.filter((condition) => conditionTypes.has(condition.type))
    const annotations: Record<string, string> = {}
    for (const key of annotationKeys) {
      const value = pod.annotations[key]
      if (value !== undefined) annotations[key] = value
    }
    return {
      ...pod,
      conditions: conditions.length === 0 ? noConditions : conditions,
      annotations: Object.keys(annotations).length === 0 ? noAnnotations : annotations,
    }
  }
}

const v4Mapped = new BlockList()
v4Mapped.addSubnet("::ffff:0:0", 96, "ipv6")

/**
 * An address's family as Go's net.IP sees it (upstream's gates use To4): an IPv4-mapped
 * IPv6 address (`::ffff:10.0.0.1`) counts as IPv4. Zoned or malformed: none.
 */
export const ipFamily = (ip: string): "ipv4" | "ipv6" | undefined => {
  if (ip.includes("%")) return undefined
  if (isIPv4(ip)) return "ipv4"
  if (isIPv6(ip)) return v4Mapped.check(ip, "ipv6") ? "ipv4" : "ipv6"
  return undefined
}

/**
 * Readiness gates (`--pod-readiness-gate`), with upstream csi-driver's syntax and
 * meaning: `pod-ip:any|ipv4|ipv6` (status.podIPs holds an address of that family),
 * `pod-condition:<Type>[=<Status>]` (the condition is present with that status, True
 * unless given; True/False/Unknown in any case), `pod-annotation:<key>` (present, with
 * a non-empty value). A volume's certificate is requested only once every gate passes
 * for its pod, at each issuance (renewals too), as upstream's ReadyToRequest does.
 */
import { Result } from "effect"
import { ipFamily, type Pod } from "../kube/pod.js"

export type IpFamily = "any" | "ipv4" | "ipv6"
export type ConditionStatus = "True" | "False" | "Unknown"

export type ReadinessGate =
  | { readonly _tag: "PodIp"; readonly family: IpFamily }
  | { readonly _tag: "PodCondition"; readonly type: string; readonly status: ConditionStatus }
  | { readonly _tag: "PodAnnotation"; readonly key: string }

const families: ReadonlyArray<IpFamily> = ["any", "ipv4", "ipv6"]
const statuses: ReadonlyArray<ConditionStatus> = ["True", "False", "Unknown"]

/** Quotes flag input for a message, bounded: a flag value may be anything. */
const shown = (text: string) => JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text)

/** Parses one `--pod-readiness-gate` value; the failure names the flag and what is valid. */
export const parseGate = (spec: string): Result.Result<ReadinessGate, string> => {
  const colon = spec.indexOf(":")
  const kind = colon < 0 ? spec : spec.slice(0, colon)
  const value = colon < 0 ? "" : spec.slice(colon + 1)
  const invalid = (why: string) => Result.fail(`invalid --pod-readiness-gate ${shown(spec)}: ${why}`)
  if (colon < 0 || value === "") {
    return invalid(
      "expected <type>:<value>: pod-ip:any|ipv4|ipv6, pod-condition:<Type>[=<Status>] or pod-annotation:<key>",
    )
  }
  switch (kind) {
    case "pod-ip": {
      const family = families.find((f) => f === value)
      return family === undefined
        ? invalid(`pod-ip takes any, ipv4 or ipv6, not ${shown(value)}`)
        : Result.succeed({ _tag: "PodIp", family })
    }
    case "pod-condition": {
      const equals = value.indexOf("=")
      const type = equals < 0 ? value : value.slice(0, equals)
      const wanted = equals < 0 ? "" : value.slice(equals + 1)
      if (type === "") return invalid("pod-condition needs a condition type before the =")
      if (wanted === "") return Result.succeed({ _tag: "PodCondition", type, status: "True" })
      const canonical = `${wanted.slice(0, 1).toUpperCase()}${wanted.slice(1).toLowerCase()}`
      const status = statuses.find((s) => s === canonical)
      return status === undefined
        ? invalid(`pod-condition status must be True, False or Unknown, not ${shown(wanted)}`)
        : Result.succeed({ _tag: "PodCondition", type, status })
    }
    case "pod-annotation":
      return Result.succeed({ _tag: "PodAnnotation", key: value })
    default:
      return invalid(`unknown type ${shown(kind)}; the types are pod-ip, pod-condition and pod-annotation`)
  }
}

/** The gate as the flag would spell it, for messages. */
export const gateText = (gate: ReadinessGate): string => {
  switch (gate._tag) {
    case "PodIp":
      return `pod-ip:${gate.family}`
    case "PodCondition":
      return `pod-condition:${gate.type}=${gate.status}`
    case "PodAnnotation":
      return `pod-annotation:${gate.key}`
  }
}

/** Why the gate does not pass for this pod yet; undefined when it passes. */
export const unmet = (gate: ReadinessGate, pod: Pod): string | undefined => {
  switch (gate._tag) {
    case "PodIp": {
      const passes = pod.ips.some((ip) => {
        const family = ipFamily(ip)
        return family !== undefined && (gate.family === "any" || gate.family === family)
      })
      if (passes) return undefined
      return gate.family === "any"
        ? "the pod has no IP address yet"
        : `the pod has no ${gate.family} address yet`
    }
    case "PodCondition": {
      const condition = pod.conditions.find((c) => c.type === gate.type)
      if (condition === undefined) return `condition ${gate.type} is not set yet`
      return condition.status === gate.status
        ? undefined
        : `condition ${gate.type} is ${shown(condition.status)}`
    }
    case "PodAnnotation": {
      const value = pod.annotations[gate.key]
      return value !== undefined && value !== "" ? undefined : `annotation ${gate.key} is not set yet`
    }
  }
}

export interface GateVerdict {
  /** Each gate that does not pass, with why: `pod-ip:any (the pod has no IP address yet)`. */
  readonly unmet: ReadonlyArray<string>
}

/** All gates against one pod (all must pass); every unmet one is reported, not just the first. */
export const evaluate = (gates: ReadonlyArray<ReadinessGate>, pod: Pod): GateVerdict => ({
  unmet: gates.flatMap((gate) => {
    const why = unmet(gate, pod)
    return why === undefined ? [] : [`${gateText(gate)} (${why})`]
  }),
})

/**
 * A pod's status IPs as the apiserver keeps them: `status.podIP` wins when it differs
 * from `status.podIPs[0]` (the v1 conversion, for older kubelets), `podIPs` is
 * `[podIP]` when only `podIP` is given, and `podIP` is always `podIPs[0]`. Then the
 * validation: every address valid, none twice, at most one per family (dual stack).
 */
import { Result } from "effect"
import { ipFamily } from "../../kube/pod.js"
import { isJsonObject, type JsonObject, type KubeObject } from "./objects.js"
import type { ResourceDef } from "./resources.js"
import { type ApiError, invalid, type StatusCause } from "./status.js"

const ipsOf = (status: JsonObject): Array<string> => {
  const listed = Array.isArray(status.podIPs)
    ? status.podIPs.flatMap((entry) =>
        isJsonObject(entry) && typeof entry.ip === "string" ? [entry.ip] : [],
      )
    : []
  const single = typeof status.podIP === "string" ? status.podIP : ""
  if (single === "") return listed
  return listed[0] === single ? listed : [single]
}

export const normalizePodStatus = (
  def: ResourceDef,
  pod: KubeObject,
): Result.Result<KubeObject, ApiError> => {
  if (!isJsonObject(pod.status)) return Result.succeed(pod)
  const { podIP: _ip, podIPs: _ips, ...rest } = pod.status
  const ips = ipsOf(pod.status)
  const causes: Array<StatusCause> = []
  for (const [i, ip] of ips.entries()) {
    if (ipFamily(ip) === undefined) {
      causes.push({
        reason: "FieldValueInvalid",
        field: `status.podIPs[${i}]`,
        message: `Invalid value: ${JSON.stringify(ip)}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`,
      })
    } else if (ips.indexOf(ip) !== i) {
      causes.push({
        reason: "FieldValueDuplicate",
        field: `status.podIPs[${i}]`,
        message: `Duplicate value: ${JSON.stringify({ ip })}`,
      })
    }
  }
  const families = new Set(ips.map(ipFamily))
  if (ips.length > 2 || (ips.length === 2 && families.size !== 2)) {
    causes.push({
      reason: "FieldValueInvalid",
      field: "status.podIPs",
      message: "Invalid value: may specify no more than one IP for each IP family",
    })
  }
  if (causes.length > 0) return Result.fail(invalid(def, pod.metadata.name ?? "", causes))
  const status = ips.length === 0 ? rest : { ...rest, podIP: ips[0] ?? "", podIPs: ips.map((ip) => ({ ip })) }
  return Result.succeed({ ...pod, status })
}

/**
 * Volumes whose attributes use `${POD_IP}` or `${POD_IPS}`. Kubelet mounts a pod's
 * volumes before the pod has an IP, so such a volume can only be mounted at once and
 * issued later (--continue-on-not-ready), once the pod watch shows an address: an
 * implicit `pod-ip:any` gate. At publish, its attributes are checked with stand-in
 * addresses; each issuance expands the pod's addresses of that moment.
 */
import { InvalidAttributes } from "./errors.js"
import { PodIpVariables, variablesIn } from "./expand.js"
import type { AttributeKey } from "./keys.js"
import { ExpandableKeys } from "./schema.js"
import type { PodInfo } from "./spec.js"

/** The attributes (of a volume_context) that use the pod's IPs, in attribute order. */
export const podIpAttributes = (context: Readonly<Record<string, string>>): ReadonlyArray<AttributeKey> =>
  ExpandableKeys.filter((key) => {
    const value = context[key]
    // Either name appears in the text of a value that uses it: most values need no parse.
    return (
      value?.includes("POD_IP") &&
      variablesIn(value).some((name) => (PodIpVariables as ReadonlyArray<string>).includes(name))
    )
  })

/** A documentation address (RFC 5737) that validates a volume before its pod has IPs. */
const standIns: ReadonlyArray<string> = ["192.0.2.1"]

/** The pod with stand-in IPs, for checking attributes that use `${POD_IP}` before the pod has one. */
export const withStandInIps = (pod: PodInfo): PodInfo => ({ ...pod, ips: standIns })

/** Why such a volume cannot be published by a driver that waits for the certificate at mount. */
export const needsContinueOnNotReady = (keys: ReadonlyArray<AttributeKey>): InvalidAttributes =>
  new InvalidAttributes({
    problems: keys.map((attribute) => ({
      attribute,
      message:
        "uses ${POD_IP} or ${POD_IPS}, but kubelet mounts the volume before the pod has an IP: run the driver with --continue-on-not-ready, which mounts at once and requests the certificate when the pod has an IP",
    })),
  })

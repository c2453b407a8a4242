/**
 * Volume attributes: the keys, the decoder from kubelet's `volume_context` to a
 * `CertificateSpec`, and the Go duration and `${VAR}` helpers other modules share.
 */
export { formatGoDuration, formatGoNanos, parseGoDuration, parseGoNanos } from "./duration.js"
export { type AttributeProblem, InvalidAttributes } from "./errors.js"
export { expand, goExpand, PodIpVariables, VariableNames, variablesIn, variablesOf } from "./expand.js"
export * from "./keys.js"
export { decodeAttributes, parseAttributes } from "./parse.js"
export { needsContinueOnNotReady, podIpAttributes, withStandInIps } from "./pod-ips.js"
export { Defaults } from "./rules.js"
export type * from "./spec.js"
export { KeyUsages } from "./spec.js"
export { classifyKey, type KeyClass, suggestKey } from "./suggest.js"

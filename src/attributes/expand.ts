/**
 * `${VAR}` expansion in attribute values, with Go's `os.Expand` semantics exactly
 * (upstream expands with it, so manifests must keep meaning the same thing), over
 * the mounting pod's identity and, once it has them, its IPs. Unknown variables are
 * collected, not dropped silently.
 */
import { Result } from "effect"
import type { PodInfo } from "./spec.js"

/** The variables a value may use, in the order messages list them. */
export const VariableNames = [
  "POD_NAME",
  "POD_NAMESPACE",
  "POD_UID",
  "SERVICE_ACCOUNT_NAME",
  "POD_IP",
  "POD_IPS",
] as const
export type VariableName = (typeof VariableNames)[number]

/** The variables from the pod's status: kubelet mounts before the pod has an IP, so they come later. */
export const PodIpVariables: ReadonlyArray<VariableName> = ["POD_IP", "POD_IPS"]

/**
 * The pod's variables. `${POD_IP}` is status.podIP and `${POD_IPS}` all of status.podIPs,
 * comma-separated (so it adds one entry per address to a list); both exist only once
 * the pod's IPs are known.
 */
export const variablesOf = (pod: PodInfo): Readonly<Partial<Record<VariableName, string>>> => ({
  POD_NAME: pod.name,
  POD_NAMESPACE: pod.namespace,
  POD_UID: pod.uid,
  SERVICE_ACCOUNT_NAME: pod.serviceAccountName,
  ...(pod.ips === undefined || pod.ips.length === 0
    ? {}
    : { POD_IP: pod.ips[0] ?? "", POD_IPS: pod.ips.join(",") }),
})

/** The variable names `s` refers to, each once. */
export const variablesIn = (s: string): ReadonlyArray<string> => {
  const names = new Set<string>()
  goExpand(s, (name) => {
    names.add(name)
    return ""
  })
  return [...names]
}

// Go's isShellSpecialVar: these name a variable on their own, as in shells.
const isSpecial = (c: string | undefined): boolean => c !== undefined && "*#$@!?-0123456789".includes(c)
const isAlphaNum = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z0-9_]$/.test(c)

// Go's getShellName: the name after a `$`, and how many characters it spans
// (an empty name with a width means bad syntax, whose characters are eaten).
const shellName = (s: string): readonly [name: string, width: number] => {
  if (s[0] === "{") {
    if (s.length > 2 && isSpecial(s[1]) && s[2] === "}") return [s.slice(1, 2), 3]
    for (let i = 1; i < s.length; i++) {
      if (s[i] === "}") return i === 1 ? ["", 2] : [s.slice(1, i), i + 1]
    }
    return ["", 1]
  }
  if (isSpecial(s[0])) return [s.slice(0, 1), 1]
  let i = 0
  while (isAlphaNum(s[i])) i++
  return [s.slice(0, i), i]
}

/** Go's `os.Expand`: replaces `${name}` and `$name` in `s` by `mapping(name)`. */
export const goExpand = (s: string, mapping: (name: string) => string): string => {
  let out = ""
  let copied = 0
  for (let j = 0; j < s.length; j++) {
    if (s[j] === "$" && j + 1 < s.length) {
      out += s.slice(copied, j)
      const [name, width] = shellName(s.slice(j + 1))
      if (name === "" && width > 0) {
        // bad syntax (`${}` or an unclosed `${`): eaten
      } else if (name === "") {
        out += "$" // a `$` not followed by a name stays as it is
      } else {
        out += mapping(name)
      }
      j += width
      copied = j + 1
    }
  }
  return out + s.slice(copied)
}

/**
 * Expands `${VAR}`s in `s` from `variables`. Fails with the unknown names used,
 * each once, in order of appearance.
 */
export const expand = (
  s: string,
  variables: Readonly<Partial<Record<string, string>>>,
): Result.Result<string, ReadonlyArray<string>> => {
  // A Set keeps the order of appearance and finds repeats in constant time.
  const unknown = new Set<string>()
  const expanded = goExpand(s, (name) => {
    const value = Object.hasOwn(variables, name) ? variables[name] : undefined
    if (value !== undefined) return value
    unknown.add(name)
    return ""
  })
  return unknown.size === 0 ? Result.succeed(expanded) : Result.fail([...unknown])
}

/** Names the known variables for a message: `${POD_NAME}, ${POD_NAMESPACE}, ...`. */
export const knownVariablesText = VariableNames.map((name) => `\${${name}}`).join(", ")

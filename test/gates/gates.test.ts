import { describe, expect, it } from "@effect/vitest"
import { Duration, Result } from "effect"
import { defaultGateBackoff, gateDelay } from "../../src/gates/backoff.js"
import { evaluate, parseGate, type ReadinessGate } from "../../src/gates/gates.js"
import type { Pod } from "../../src/kube/pod.js"

const gate = (spec: string): ReadinessGate => {
  const parsed = parseGate(spec)
  if (Result.isFailure(parsed)) throw new Error(parsed.failure)
  return parsed.success
}

const pod = (fields: Partial<Pod> = {}): Pod => ({
  metadata: { namespace: "ns", name: "p", uid: "u" },
  ips: [],
  conditions: [],
  annotations: {},
  deleting: false,
  ...fields,
})

const unmetOf = (spec: string, p: Pod) => evaluate([gate(spec)], p).unmet

describe("--pod-readiness-gate syntax (upstream's)", () => {
  it.each([
    ["pod-ip:any", { _tag: "PodIp", family: "any" }],
    ["pod-ip:ipv4", { _tag: "PodIp", family: "ipv4" }],
    ["pod-ip:ipv6", { _tag: "PodIp", family: "ipv6" }],
    ["pod-condition:Ready", { _tag: "PodCondition", type: "Ready", status: "True" }],
    ["pod-condition:Ready=", { _tag: "PodCondition", type: "Ready", status: "True" }],
    [
      "pod-condition:example.com/net=false",
      { _tag: "PodCondition", type: "example.com/net", status: "False" },
    ],
    ["pod-condition:X=UNKNOWN", { _tag: "PodCondition", type: "X", status: "Unknown" }],
    [
      "pod-annotation:k8s.v1.cni.cncf.io/network-status",
      { _tag: "PodAnnotation", key: "k8s.v1.cni.cncf.io/network-status" },
    ],
    ["pod-annotation:a:b", { _tag: "PodAnnotation", key: "a:b" }],
  ])("%s", (spec, expected) => {
    expect(parseGate(spec)).toStrictEqual(Result.succeed(expected))
  })

  it.each([
    ["pod-ip", "expected <type>:<value>"],
    ["pod-ip:", "expected <type>:<value>"],
    ["", "expected <type>:<value>"],
    ["pod-ip:dual", 'pod-ip takes any, ipv4 or ipv6, not "dual"'],
    ["pod-ip:IPv4", 'pod-ip takes any, ipv4 or ipv6, not "IPv4"'],
    ["pod-condition:=True", "pod-condition needs a condition type"],
    ["pod-condition:Ready=yes", 'status must be True, False or Unknown, not "yes"'],
    ["pod-condition:a=b=true", 'status must be True, False or Unknown, not "b=true"'],
    ["pod-label:app=x", 'unknown type "pod-label"; the types are pod-ip, pod-condition and pod-annotation'],
  ])("refuses %j, naming the flag and what is valid", (spec, reason) => {
    const parsed = parseGate(spec)
    expect(Result.isFailure(parsed)).toBe(true)
    const message = Result.isFailure(parsed) ? parsed.failure : ""
    expect(message).toContain(`invalid --pod-readiness-gate ${JSON.stringify(spec)}`)
    expect(message).toContain(reason)
  })

  it("keeps a message bounded whatever the flag holds", () => {
    const parsed = parseGate(`x${"y".repeat(5000)}:z`)
    expect(Result.isFailure(parsed) && parsed.failure.length).toBeLessThan(700)
  })
})

describe("gates against a pod", () => {
  it("pod-ip: an address of the family in status.podIPs; IPv4-mapped IPv6 counts as IPv4, as in Go", () => {
    expect(unmetOf("pod-ip:any", pod())).toStrictEqual(["pod-ip:any (the pod has no IP address yet)"])
    expect(unmetOf("pod-ip:any", pod({ ips: ["fd00::1"] }))).toStrictEqual([])
    expect(unmetOf("pod-ip:ipv4", pod({ ips: ["fd00::1"] }))).toStrictEqual([
      "pod-ip:ipv4 (the pod has no ipv4 address yet)",
    ])
    expect(unmetOf("pod-ip:ipv4", pod({ ips: ["fd00::1", "10.0.0.1"] }))).toStrictEqual([])
    expect(unmetOf("pod-ip:ipv6", pod({ ips: ["10.0.0.1"] }))).toHaveLength(1)
    expect(unmetOf("pod-ip:ipv6", pod({ ips: ["10.0.0.1", "fd00::1"] }))).toStrictEqual([])
    expect(unmetOf("pod-ip:ipv4", pod({ ips: ["::ffff:10.0.0.1"] }))).toStrictEqual([])
    expect(unmetOf("pod-ip:ipv6", pod({ ips: ["::ffff:10.0.0.1"] }))).toHaveLength(1)
    expect(unmetOf("pod-ip:any", pod({ ips: ["not-an-ip", "fe80::1%eth0"] }))).toHaveLength(1)
  })

  it("pod-condition: present with the wanted status", () => {
    const ready = pod({ conditions: [{ type: "Ready", status: "True" }] })
    expect(unmetOf("pod-condition:Ready", ready)).toStrictEqual([])
    expect(unmetOf("pod-condition:Ready=true", ready)).toStrictEqual([])
    expect(unmetOf("pod-condition:Ready=False", ready)).toStrictEqual([
      'pod-condition:Ready=False (condition Ready is "True")',
    ])
    expect(unmetOf("pod-condition:Other", ready)).toStrictEqual([
      "pod-condition:Other=True (condition Other is not set yet)",
    ])
  })

  it("pod-annotation: present with a non-empty value", () => {
    expect(unmetOf("pod-annotation:a", pod({ annotations: { a: "[]" } }))).toStrictEqual([])
    expect(unmetOf("pod-annotation:a", pod({ annotations: { a: "" } }))).toStrictEqual([
      "pod-annotation:a (annotation a is not set yet)",
    ])
    expect(unmetOf("pod-annotation:a", pod({ annotations: { b: "x" } }))).toHaveLength(1)
  })

  it("all must pass, and every unmet one is named", () => {
    const gates = [gate("pod-ip:ipv6"), gate("pod-condition:Ready"), gate("pod-annotation:a")]
    expect(evaluate(gates, pod({ ips: ["10.0.0.1"], annotations: { a: "x" } })).unmet).toStrictEqual([
      "pod-ip:ipv6 (the pod has no ipv6 address yet)",
      "pod-condition:Ready=True (condition Ready is not set yet)",
    ])
    expect(
      evaluate(
        gates,
        pod({ ips: ["fd00::1"], annotations: { a: "x" }, conditions: [{ type: "Ready", status: "True" }] }),
      ).unmet,
    ).toStrictEqual([])
  })
})

describe("gate backoff (k8s wait.Backoff)", () => {
  const seconds = (d: Duration.Duration) => Duration.toMillis(d) / 1000

  it("grows by the factor from the duration and holds at the cap, jitter adding up to its share", () => {
    const steps = [0, 1, 2, 3, 4, 5].map((n) => seconds(gateDelay(defaultGateBackoff, n, 0)))
    expect(steps).toStrictEqual([1, 2, 4, 8, 10, 10])
    expect(seconds(gateDelay(defaultGateBackoff, 0, 0.999))).toBeCloseTo(1.4995)
    expect(seconds(gateDelay(defaultGateBackoff, 9, 0.5))).toBe(12.5)
  })

  it("cap 0 is none; factor 0 keeps the duration; jitter 0 is exact; a timer never exceeds a day", () => {
    const uncapped = { ...defaultGateBackoff, cap: undefined, jitter: 0 }
    expect(seconds(gateDelay(uncapped, 6, 0.7))).toBe(64)
    expect(seconds(gateDelay(uncapped, 200, 0.7))).toBe(86_400)
    expect(seconds(gateDelay({ ...defaultGateBackoff, factor: 0, jitter: 0 }, 7, 0.3))).toBe(1)
  })
})

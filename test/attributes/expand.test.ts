// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} in plain strings is the syntax under test
import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { expand, goExpand, VariableNames, variablesOf } from "../../src/attributes/expand.js"

// Shows which names os.Expand asked for: `<name>`.
const brackets = (s: string) => goExpand(s, (name) => `<${name}>`)

describe("goExpand (Go's os.Expand)", () => {
  it.each([
    ["", ""],
    ["plain", "plain"],
    ["${A}", "<A>"],
    ["$A", "<A>"],
    ["$A.b", "<A>.b"],
    ["${A}B", "<A>B"],
    ["$AB", "<AB>"],
    ["$A_B1-x", "<A_B1>-x"],
    ["a$", "a$"],
    ["$", "$"],
    ["$ x", "$ x"],
    ["$-", "<->"],
    ["$.x", "$.x"],
    ["$/", "$/"],
    ["${}", ""],
    ["a${}b", "ab"],
    ["${", ""],
    ["a${b", "ab"],
    ["${A", "A"],
    ["$$", "<$>"],
    ["$$A", "<$>A"],
    ["$1", "<1>"],
    ["$12", "<1>2"],
    ["${1}", "<1>"],
    ["${12}", "<12>"],
    ["$*$#$@$!$?", "<*><#><@><!><?>"],
    ["${*}", "<*>"],
    ["${ A }", "< A >"],
    ["${A-b}", "<A-b>"],
    ["${A}${B}", "<A><B>"],
    ["$A$B", "<A><B>"],
    ["$\u00e9", "$\u00e9"],
    ["${\u00e9}", "<\u00e9>"],
    ["\\${A}", "\\<A>"],
    ["$$}", "<$>}"],
    ["${{A}}", "<{A>}"],
  ])("%j expands to %j", (input, output) => {
    expect(brackets(input)).toBe(output)
  })
})

describe("expand with the pod's variables", () => {
  const variables = variablesOf({
    name: "my-csi-app",
    namespace: "sandbox",
    uid: "1234",
    serviceAccountName: "sa",
  })

  it("knows upstream's four variables and the pod's IPs", () => {
    expect(VariableNames).toStrictEqual([
      "POD_NAME",
      "POD_NAMESPACE",
      "POD_UID",
      "SERVICE_ACCOUNT_NAME",
      "POD_IP",
      "POD_IPS",
    ])
    expect(expand("$POD_NAME/${POD_NAMESPACE}/${POD_UID}/$SERVICE_ACCOUNT_NAME", variables)).toStrictEqual(
      Result.succeed("my-csi-app/sandbox/1234/sa"),
    )
  })

  it("has ${POD_IP} (the first address) and ${POD_IPS} (all, comma-separated) once the pod's IPs are known", () => {
    const pod = { name: "a", namespace: "b", uid: "c", serviceAccountName: "d" }
    expect(expand("${POD_IP}", variables)).toStrictEqual(Result.fail(["POD_IP"]))
    expect(expand("${POD_IP}", variablesOf({ ...pod, ips: [] }))).toStrictEqual(Result.fail(["POD_IP"]))
    const dual = variablesOf({ ...pod, ips: ["10.1.2.3", "fd00::3"] })
    expect(expand("${POD_IP}|${POD_IPS}", dual)).toStrictEqual(Result.succeed("10.1.2.3|10.1.2.3,fd00::3"))
  })

  it("leaves text without variables alone", () => {
    expect(expand("a.b.c $ x", variables)).toStrictEqual(Result.succeed("a.b.c $ x"))
  })

  it("collects every unknown name once, in order", () => {
    expect(expand("${FOO}.$POD_NAME.$BAR.${FOO}.$1", variables)).toStrictEqual(
      Result.fail(["FOO", "BAR", "1"]),
    )
  })

  it("is case-sensitive and does not read the environment", () => {
    expect(expand("${pod_name}", variables)).toStrictEqual(Result.fail(["pod_name"]))
    expect(expand("$HOME", variables)).toStrictEqual(Result.fail(["HOME"]))
  })

  it("does not treat inherited object properties as variables", () => {
    expect(expand("${constructor}${toString}", variables)).toStrictEqual(
      Result.fail(["constructor", "toString"]),
    )
  })
})

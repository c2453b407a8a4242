import { describe, expect, it } from "@effect/vitest"
import { classifyKey, editDistance, nearest, suggestKey } from "../../src/attributes/suggest.js"

describe("editDistance", () => {
  it.each([
    ["", "", 0],
    ["abc", "", 3],
    ["", "abc", 3],
    ["dns-names", "dns-names", 0],
    ["dns-name", "dns-names", 1],
    ["dsn-names", "dns-names", 1],
    ["kitten", "sitting", 3],
    ["ca", "abc", 3],
  ] as const)("%j → %j is %d", (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance)
    expect(editDistance(b, a)).toBe(distance)
  })
})

describe("nearest", () => {
  it("ignores case and separators, and prefers the closest", () => {
    expect(nearest("Server_Auth", ["client auth", "server auth"])).toBe("server auth")
    expect(nearest("sever auth", ["server auth", "client auth"])).toBe("server auth")
  })
  it("gives nothing when nothing is close", () => {
    expect(nearest("banana", ["server auth", "client auth"])).toBeUndefined()
  })
})

describe("suggestKey", () => {
  it.each([
    ["csi.cert-manager.io/dns-name", "csi.cert-manager.io/dns-names"],
    ["csi.cert-manager.io/dnsnames", "csi.cert-manager.io/dns-names"],
    ["csi.cert-manager.io/DNS_Names", "csi.cert-manager.io/dns-names"],
    ["csi.cert-manager.io/isuer-name", "csi.cert-manager.io/issuer-name"],
    ["csi.cert-manager.io/private-key-file", "csi.cert-manager.io/privatekey-file"],
    ["csi.cert-manager.io/serial-number", "csi.cert-manager.io/serialnumber"],
    ["csi.cert-manager.io/organisations", "csi.cert-manager.io/organizations"],
    ["csi.cert-manager.io/renewbefore", "csi.cert-manager.io/renew-before"],
    ["key-size", "csi.cert-manager.io/key-size"],
    ["csi.cert-manager.io/keystore-pkcs12-enable", undefined],
    ["csi.cert-manager.io/colour", undefined],
  ])("%j → %j", (key, suggestion) => {
    expect(suggestKey(key)).toBe(suggestion)
  })
})

describe("classifyKey", () => {
  it.each([
    ["csi.cert-manager.io/issuer-name", { _tag: "Attribute", key: "csi.cert-manager.io/issuer-name" }],
    ["csi.storage.k8s.io/pod.name", { _tag: "Kubelet" }],
    ["csi.storage.k8s.io/anything", { _tag: "Kubelet" }],
    ["example.com/team", { _tag: "Annotation" }],
    ["approver-policy.cert-manager.io/profile", { _tag: "Annotation" }],
    [
      "csi.cert-manager.io/dns-name",
      { _tag: "Unknown", message: "unknown attribute; did you mean csi.cert-manager.io/dns-names?" },
    ],
    [
      "dns-names",
      {
        _tag: "Unknown",
        message: "attribute has no group prefix; did you mean csi.cert-manager.io/dns-names?",
      },
    ],
    [
      "csi.cert-manger.io/dns-names",
      {
        _tag: "Unknown",
        message:
          "unknown attribute; did you mean csi.cert-manager.io/dns-names? (as written it would only be copied as an annotation)",
      },
    ],
    [
      "CSI.cert-manager.io/dns-names",
      {
        _tag: "Unknown",
        message:
          "unknown attribute; did you mean csi.cert-manager.io/dns-names? (as written it would only be copied as an annotation)",
      },
    ],
  ] as const)("%j is %o", (key, kind) => {
    expect(classifyKey(key)).toStrictEqual(kind)
  })

  it("lists the known names when nothing is close", () => {
    const kind = classifyKey("csi.cert-manager.io/colour")
    expect(kind._tag).toBe("Unknown")
    expect(kind._tag === "Unknown" && kind.message).toMatch(
      /^unknown attribute; remove it or fix its name \(known names after csi\.cert-manager\.io\/: issuer-name, issuer-kind, .*, pkcs12-profile\)$/,
    )
  })

  it("explains the group prefix for a bare key that matches nothing", () => {
    expect(classifyKey("team")).toStrictEqual({
      _tag: "Unknown",
      message:
        "attribute has no group prefix; write this driver's attributes as csi.cert-manager.io/<name>, and give other keys a group (example.com/<name>) to have them copied as annotations",
    })
  })
})

import { describe, expect, it } from "vitest"
import { hashIdentifier, labelsFor, nodeSelector } from "../../src/kube/labels.js"

describe("csi-lib compatible label hashes", () => {
  // FNV-1 32-bit of the id (computed independently with Python), then each decimal
  // digit d becomes "bcdfghjklmnpqrstvwxz2456789"[(48 + d) % 27].
  it.each([
    ["node-1", "568266919"],
    ["csi-abc", "3934548695"],
    ["kind-control-plane", "2016776422"],
  ])("hashes %s like HashIdentifier", (id, fnv) => {
    const alphabet = "bcdfghjklmnpqrstvwxz2456789"
    const expected = [...fnv].map((digit) => alphabet[digit.charCodeAt(0) % 27]).join("")
    expect(hashIdentifier(id)).toBe(expected)
  })

  it("labels a request with node and volume hashes", () => {
    expect(labelsFor("n", "v")).toEqual({
      "csi.cert-manager.io/node-id-hash": hashIdentifier("n"),
      "csi.cert-manager.io/volume-id-hash": hashIdentifier("v"),
    })
    expect(nodeSelector("n")).toBe(`csi.cert-manager.io/node-id-hash=${hashIdentifier("n")}`)
  })
})

describe("hashIdentifier over UTF-8", () => {
  it("hashes the UTF-8 bytes of an id that is not ASCII, as csi-lib does", () => {
    // FNV-1 32-bit over the bytes, written out plainly as the reference.
    const reference = (id: string) => {
      let hash = 0x811c9dc5
      for (const byte of new TextEncoder().encode(id))
        hash = ((Math.imul(hash, 0x01000193) >>> 0) ^ byte) >>> 0
      const alphabet = "bcdfghjklmnpqrstvwxz2456789"
      return [...String(hash)].map((c) => alphabet[c.charCodeAt(0) % 27]).join("")
    }
    for (const id of ["node-ä", "ü", "vol-日本-1", "emoji-😀-x", "", "plain"])
      expect(hashIdentifier(id)).toBe(reference(id))
  })
})

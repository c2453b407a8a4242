import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { absolutePath, child } from "../../src/volume/paths.js"

const dirs = [
  "/",
  "/a",
  "/a/",
  "a",
  "a/b/",
  ".",
  "./a",
  "a/./b",
  "a/../b",
  "/a//b",
  "..",
  "../a",
  "/a/..",
  "/a/.",
  "",
  "/..data/x",
  "/var/lib/kubelet/pods/0f1e/volumes/kubernetes.io~csi/tls/mount",
]

describe("paths", () => {
  it("child is path.join of a directory and one plain name", () => {
    for (const dir of dirs) {
      for (const name of ["x", "..data", ".x.tmp", "..2026_01_01_00_00_00.abc"]) {
        assert.strictEqual(child(dir, name), path.join(dir, name), `${JSON.stringify(dir)} + ${name}`)
      }
    }
  })

  it("absolutePath is path.resolve", () => {
    for (const dir of [...dirs, "/a/b/", "//a", "/a/.b", "/a/b/.."]) {
      assert.strictEqual(absolutePath(dir), path.resolve(dir), JSON.stringify(dir))
    }
  })
})

/** `npm run demo` runs the driver's main job on the embedded default and exits 0. */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { canMount, repoRoot } from "../support/driver-process.js"

/** The built demo in `checkout` (this one, or a view of it), run by its Node with `prefix` before. */
const run = (prefix: ReadonlyArray<string>, args: ReadonlyArray<string> = [], checkout = repoRoot) => {
  const node = path.join(checkout, "node_modules/.bin/node")
  const command = [...prefix, node, path.join(checkout, "dist/demo.js"), ...args]
  return spawnSync(command[0]!, command.slice(1), { encoding: "utf8", timeout: 60_000 })
}

/**
 * Runs the demo as uid 65534. The checkout may sit below a directory that user cannot
 * enter (a clone in a 0700 `mktemp -d`), so the child gets a private mount namespace in
 * which the checkout is bind-mounted, read-only, onto a fresh directory everyone can
 * reach, and runs from there: the same files, at a path the user can open.
 */
const runAsNobody = () => {
  const view = fs.mkdtempSync(path.join(os.tmpdir(), "csi-demo-checkout-"))
  fs.chmodSync(view, 0o755)
  try {
    const bindThenDrop = 'mount --bind -o ro "$1" "$2" && shift 2 && exec "$@"'
    const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    const prefix = [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      bindThenDrop,
      "sh",
      repoRoot,
      view,
      ...nobody,
    ]
    return run(prefix, [], view)
  } finally {
    fs.rmdirSync(view)
  }
}

const expectVerified = (result: ReturnType<typeof run>) => {
  expect(result.status, result.stderr).toBe(0)
  expect(result.stdout).toContain("DNS:my-csi-app.sandbox.svc.cluster.local")
  expect(result.stdout).toContain("private key matches certificate: yes")
  expect(result.stdout).toContain("certificate signed by ca.crt:     yes")
  expect(result.stdout).toContain("CertificateRequests left: 0")
}

describe("npm run demo", () => {
  it("mounts the seed pod's certificate, shows it verified, cleans up", () => {
    const result = run([])
    expectVerified(result)
    if (process.getuid?.() === 0) expect(result.stdout).toContain("real tmpfs")
  })

  it.skipIf(!canMount)("says it cannot mount when not root, and still works", () => {
    const result = runAsNobody()
    expectVerified(result)
    expect(result.stdout).toContain("cannot mount")
  })

  it("--pod-ip shows a certificate carrying the pod's addresses, which arrived after the mount", () => {
    const result = run([], ["--pod-ip"])
    expectVerified(result)
    expect(result.stdout).toContain("files in the volume: none yet")
    expect(result.stdout).toContain("CertificateRequests: 0")
    expect(result.stdout).toMatch(/the certificate arrived after the mount: \d+ ms after the addresses/)
    expect(result.stdout).toContain("IP Address:10.244.0.7, IP Address:FD00:10:244:0:0:0:0:7")
  })

  it("--renew shows one renewal replacing the files", () => {
    const result = run([], ["--renew"])
    expectVerified(result)
    expect(result.stdout).toMatch(/serial [0-9A-F]+ → [0-9A-F]+; new key: yes/)
  }, 60_000)
})

/** `npm run demo` runs the driver's main job on the embedded default and exits 0. */
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { nodeBin, repoRoot } from "../support/driver-process.js"

const demo = path.join(repoRoot, "dist/demo.js")
const run = (prefix: ReadonlyArray<string>, args: ReadonlyArray<string> = []) => {
  const command = [...prefix, nodeBin, demo, ...args]
  return spawnSync(command[0]!, command.slice(1), { encoding: "utf8", timeout: 60_000 })
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

  it.skipIf(process.getuid?.() !== 0)("says it cannot mount when not root, and still works", () => {
    const result = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
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

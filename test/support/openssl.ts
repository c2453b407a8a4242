/** openssl and temp-dir helpers shared by the tests that check outputs with the openssl CLI. */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** A fresh temp dir per test file; removed by `cleanup`. */
export const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "csi-test-"))
  return {
    dir,
    file: (name: string, content?: string | Uint8Array) => {
      const p = path.join(dir, name)
      if (content !== undefined) fs.writeFileSync(p, content)
      return p
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  }
}

export interface OpensslResult {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

export const openssl = (args: ReadonlyArray<string>, input?: string | Uint8Array): OpensslResult => {
  const r = spawnSync("openssl", args, { input, encoding: "utf8" })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Runs openssl and returns its raw stdout bytes (for binary output). */
export const opensslBytes = (args: ReadonlyArray<string>, input?: string | Uint8Array): Buffer => {
  const r = spawnSync("openssl", args, { input })
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed (${r.status}): ${r.stderr}`)
  return r.stdout
}

/** Runs openssl and fails the test with its stderr when it exits non-zero. */
export const opensslOk = (args: ReadonlyArray<string>, input?: string | Uint8Array): string => {
  const r = openssl(args, input)
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed (${r.status}): ${r.stderr}`)
  return r.stdout
}

/** Does this machine's openssl have the legacy provider (needed to read RC2)? */
export const hasLegacyProvider = (): boolean =>
  openssl(["list", "-cipher-algorithms", "-provider", "legacy"]).stdout.includes("RC2-40-CBC")

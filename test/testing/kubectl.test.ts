/**
 * kubectl against the sandbox, when kubectl is on PATH: `create -f` (with its default
 * validation), `get -o yaml`, `get -w` seeing the status change in the Table columns,
 * `delete`.
 */
import { execFile, execFileSync, spawn } from "node:child_process"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { IssuerBehaviour } from "../../src/testing/issuer/behaviour.js"
import { type RunningSandbox, startSandbox } from "../../src/testing/sandbox.js"
import { eventually, makeCsr, tempDir, writeTemp } from "./support.js"

const hasKubectl = (() => {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

if (!hasKubectl) console.warn("kubectl is not on PATH: skipping the kubectl tests against the sandbox")

const run = promisify(execFile)

describe.skipIf(!hasKubectl)("kubectl against the sandbox", () => {
  let sb: RunningSandbox
  let args: Array<string>
  let dir: string

  beforeAll(async () => {
    sb = await startSandbox({ issuers: { "slow-issuer": IssuerBehaviour.signAfter("700 millis") } })
    dir = tempDir()
    const kubeconfig = writeTemp(dir, "kubeconfig", sb.kubeconfig())
    args = ["--kubeconfig", kubeconfig, "--cache-dir", `${dir}/cache`]
  })

  afterAll(async () => {
    await sb?.close()
  })

  const kubectl = async (...rest: Array<string>) => (await run("kubectl", [...args, ...rest])).stdout

  const manifest = async (name: string, issuer: string) => {
    const { request } = await makeCsr({ commonName: name, dnsNames: [`${name}.example.com`] })
    return writeTemp(
      dir,
      `${name}.yaml`,
      [
        "apiVersion: cert-manager.io/v1",
        "kind: CertificateRequest",
        "metadata:",
        `  name: ${name}`,
        "  namespace: default",
        "spec:",
        `  request: ${request}`,
        "  issuerRef:",
        `    name: ${issuer}`,
        "    kind: Issuer",
        "    group: cert-manager.io",
        "  usages:",
        "  - digital signature",
        "  - server auth",
        "",
      ].join("\n"),
    )
  }

  it("create -f, get -o yaml, delete", async () => {
    const file = await manifest("kube-a", "ca-issuer")
    expect(await kubectl("create", "-f", file)).toContain("certificaterequest.cert-manager.io/kube-a created")
    const yaml = await eventually(async () => {
      const out = await kubectl("get", "certificaterequest", "kube-a", "-o", "yaml")
      return out.includes("reason: Issued") ? out : undefined
    })
    expect(yaml).toContain("kind: CertificateRequest")
    expect(yaml).toContain("username: kubernetes-admin")
    expect(yaml).toMatch(/certificate: \S+/)
    expect(await kubectl("get", "cr", "-A")).toMatch(
      /default\s+kube-a\s+True\s+True\s+ca-issuer\s+kubernetes-admin/,
    )
    expect(await kubectl("delete", "cr", "kube-a")).toContain(
      'certificaterequest.cert-manager.io "kube-a" deleted',
    )
    const gone = await kubectl("get", "cr", "kube-a").then(
      () => "found",
      (e: { stderr?: string }) => e.stderr ?? "",
    )
    expect(gone).toContain('certificaterequests.cert-manager.io "kube-a" not found')
  })

  it("get -w sees the status change", async () => {
    const watcher = spawn("kubectl", [...args, "get", "certificaterequests", "-w"], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    let out = ""
    watcher.stdout.on("data", (d: Buffer) => {
      out += d.toString()
    })
    try {
      // with nothing listed kubectl prints no header yet: wait until its watch is open
      await eventually(async () => ((await sb.stats()).openWatches > 0 ? true : undefined), 10_000)
      await kubectl("create", "-f", await manifest("kube-w", "slow-issuer"))
      const readyColumn = (line: string, header: string) =>
        line.slice(header.indexOf("READY"), header.indexOf("ISSUER")).trim()
      await eventually(() => {
        const lines = out.split("\n")
        const header = lines.find((l) => l.startsWith("NAME")) ?? ""
        const rows = lines.filter((l) => l.startsWith("kube-w"))
        return rows.some((r) => readyColumn(r, header) === "False") &&
          rows.some((r) => readyColumn(r, header) === "True")
          ? true
          : undefined
      }, 10_000)
    } finally {
      watcher.kill()
    }
  })
})

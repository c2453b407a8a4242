/**
 * Runs the BUILT driver (dist/main.js on Node 24) as a child process, the way a
 * node would. As root, every driver of a test shares one private mount namespace
 * held by a sleeping process, so the tmpfs and bind mounts are real, survive a
 * driver restart like they do on a node, and never leak onto this machine; tests
 * read mounted files through /proc/<holder>/root. Without root, mount tests skip.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export const repoRoot = path.resolve(import.meta.dirname, "../..")
export const nodeBin = path.join(repoRoot, "node_modules/.bin/node")
/** BENCH_DRIVER_MAIN runs another build (the bench's A/B comparisons); tests use this checkout's. */
export const mainJs = process.env.BENCH_DRIVER_MAIN ?? path.join(repoRoot, "dist/main.js")
/** The `--node-id` every test driver runs with: pods the driver should see are scheduled here. */
export const nodeId = "e2e-node"
/** The driver runs as its shebang says (env, Node flags), with `node` found here: Node 24. */
const driverEnv = { PATH: `${path.dirname(nodeBin)}${path.delimiter}${process.env.PATH ?? ""}` }

const has = (command: string) => {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** Real mounts need root and util-linux's unshare/nsenter. */
export const canMount = process.getuid?.() === 0 && has("unshare") && has("nsenter")
export const whyNoMounts = canMount ? "" : "mount tests need root with unshare and nsenter; skipped"

export class MountNamespace {
  private readonly holder: ChildProcess

  private constructor(holder: ChildProcess) {
    this.holder = holder
  }

  static async create(): Promise<MountNamespace> {
    const holder = spawn("unshare", ["--mount", "--propagation", "private", "sleep", "infinity"], {
      stdio: "ignore",
    })
    await new Promise((resolve) => setTimeout(resolve, 100))
    return new MountNamespace(holder)
  }

  get pid(): number {
    return this.holder.pid ?? 0
  }

  /** A path as seen inside the namespace. */
  view(file: string): string {
    return `/proc/${this.pid}/root${file}`
  }

  prefix(): Array<string> {
    return ["nsenter", `--target=${this.pid}`, "--mount", "--"]
  }

  exec(command: Array<string>): string {
    return execFileSync(command[0]!, command.slice(1), { encoding: "utf8" })
  }

  mounts(): string {
    return this.exec([...this.prefix(), "cat", "/proc/self/mountinfo"])
  }

  close() {
    this.holder.kill("SIGKILL")
  }
}

export interface DriverOptions {
  readonly kubeconfig: string
  readonly args?: ReadonlyArray<string>
  readonly namespace?: MountNamespace
  /** Reuse the directories of an earlier driver (a restart). */
  readonly dir?: string
  readonly env?: Record<string, string>
  /** Run as `node dist/main.js`, without the shebang's Node flags and malloc setting. */
  readonly plainNode?: boolean
  /** Another build's main.js (the bench's side-by-side A/B); else `mainJs`. */
  readonly main?: string
}

export class DriverProcess {
  private readonly output: Array<string> = []
  readonly exited: Promise<number | null>

  readonly child: ChildProcess
  readonly dir: string
  readonly socket: string
  readonly dataRoot: string
  readonly kubeletRoot: string

  private constructor(
    child: ChildProcess,
    dir: string,
    socket: string,
    dataRoot: string,
    kubeletRoot: string,
  ) {
    this.child = child
    this.dir = dir
    this.socket = socket
    this.dataRoot = dataRoot
    this.kubeletRoot = kubeletRoot
    const collect = (chunk: Buffer) => this.output.push(chunk.toString("utf8"))
    child.stdout?.on("data", collect)
    child.stderr?.on("data", collect)
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)))
  }

  static async start(options: DriverOptions): Promise<DriverProcess> {
    const dir = options.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), "csi-e2e-")))
    const socket = path.join(dir, "plugin", "csi.sock")
    const dataRoot = path.join(dir, "data")
    const kubeletRoot = path.join(dir, "kubelet")
    await fs.mkdir(kubeletRoot, { recursive: true })
    const argv = [
      // Executed through its shebang, as the image and the bin entry run it, unless asked not to.
      ...(options.plainNode === true ? [nodeBin] : []),
      options.main ?? mainJs,
      `--node-id=${nodeId}`,
      `--endpoint=unix://${socket}`,
      `--data-root=${dataRoot}`,
      `--kubeconfig=${options.kubeconfig}`,
      // Tests read debug lines; a caller that names its own level (the bench) gets that one.
      ...((options.args ?? []).some((arg) => arg.startsWith("--log-level")) ? [] : ["--log-level=debug"]),
      ...(options.args ?? []),
    ]
    const command = [...(options.namespace?.prefix() ?? []), ...argv]
    const child = spawn(command[0]!, command.slice(1), {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...driverEnv, ...options.env },
    })
    const driver = new DriverProcess(child, dir, socket, dataRoot, kubeletRoot)
    await driver.waitForSocket()
    return driver
  }

  get pid(): number {
    return this.child.pid ?? 0
  }

  logs(): string {
    return this.output.join("")
  }

  async waitForSocket(timeoutMs = 15_000) {
    const until = Date.now() + timeoutMs
    while (Date.now() < until) {
      if (this.child.exitCode !== null)
        throw new Error(`driver exited (${this.child.exitCode}):\n${this.logs()}`)
      const ok = await new Promise<boolean>((resolve) => {
        const client = net.connect(this.socket)
        client.once("connect", () => {
          client.destroy()
          resolve(true)
        })
        client.once("error", () => resolve(false))
      })
      if (ok) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`driver did not listen on ${this.socket}:\n${this.logs()}`)
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal)
    return this.exited
  }
}

/** Runs the built binary to completion, for flag tests. */
export const runDriverBinary = (args: ReadonlyArray<string>, timeoutMs = 10_000) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(mainJs, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...driverEnv },
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.once("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/**
 * Shared set-up for end-to-end tests: a sandbox (API server + CA issuer), a
 * private mount namespace, the built driver running inside it, and a kubelet.
 */
import { createPublicKey, randomUUID, X509Certificate } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { type RunningSandbox, startSandbox } from "../../src/testing/sandbox.js"
import { DriverProcess, MountNamespace, nodeId } from "../support/driver-process.js"
import { Kubelet, type Pod } from "../support/kubelet.js"

export interface Harness {
  readonly sandbox: RunningSandbox
  readonly namespace: MountNamespace
  readonly kubeconfig: string
  driver: DriverProcess
  kubelet: Kubelet
  /** Restarts the driver on the same socket, data root and mount namespace. */
  restart(options?: { signal?: NodeJS.Signals; args?: ReadonlyArray<string> }): Promise<void>
  close(): Promise<void>
}

export interface HarnessOptions {
  readonly args?: ReadonlyArray<string>
  /** Run the driver as `node dist/main.js`, without its shebang's flags. */
  readonly plainNode?: boolean
  /** Another build's main.js to run (the bench's A/B group). */
  readonly main?: string
}

export const startHarness = async (options: HarnessOptions = {}): Promise<Harness> => {
  const sandbox = await startSandbox()
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "csi-e2e-"))
  const kubeconfig = path.join(dir, "kubeconfig")
  await fs.writeFile(kubeconfig, sandbox.kubeconfig(sandbox.driverToken))
  const namespace = await MountNamespace.create()
  const start = (args: ReadonlyArray<string> | undefined) =>
    DriverProcess.start({
      kubeconfig,
      namespace,
      dir,
      args: args ?? options.args ?? [],
      ...(options.plainNode === undefined ? {} : { plainNode: options.plainNode }),
      ...(options.main === undefined ? {} : { main: options.main }),
    })
  const driver = await start(undefined).catch(async (error: unknown) => {
    // A driver that fails to start must not leave the sandbox and the namespace holder behind.
    namespace.close()
    await sandbox.close()
    throw error
  })
  const harness: Harness = {
    sandbox,
    namespace,
    kubeconfig,
    driver,
    kubelet: undefined as unknown as Kubelet,
    async restart(restartOptions = {}) {
      await harness.driver.stop(restartOptions.signal ?? "SIGTERM")
      harness.kubelet.close()
      harness.driver = await start(restartOptions.args)
      harness.kubelet = new Kubelet(harness.driver.socket, harness.driver.kubeletRoot, () => namespace.pid)
    },
    async close() {
      harness.kubelet.close()
      await harness.driver.stop()
      namespace.close()
      await sandbox.close()
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined)
    },
  }
  harness.kubelet = new Kubelet(harness.driver.socket, harness.driver.kubeletRoot, () => namespace.pid)
  return harness
}

export const seedAttributes = {
  "csi.cert-manager.io/issuer-name": "ca-issuer",
  "csi.cert-manager.io/issuer-kind": "Issuer",
  "csi.cert-manager.io/dns-names": "${POD_NAME}.${POD_NAMESPACE}.svc.cluster.local",
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `probe` every 20 ms until it gives a value; resolves with the value and how long it took. */
export const until = async <A>(what: string, probe: () => Promise<A | undefined>, timeoutMs = 15_000) => {
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    const value = await probe()
    if (value !== undefined) return { value, ms: Date.now() - started }
    await sleep(20)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** A certificate renewed every ~4 s: 16 s before the end of its 20 s. */
export const shortLived = {
  ...seedAttributes,
  "csi.cert-manager.io/key-algorithm": "ECDSA",
  "csi.cert-manager.io/duration": "20s",
  "csi.cert-manager.io/renew-before": "16s",
}

export interface PodOptions {
  readonly name?: string | undefined
  readonly namespace?: string | undefined
  readonly serviceAccountName?: string | undefined
}

/**
 * A new pod (default: `app-<random>` in namespace `sandbox`), scheduled on the driver's
 * node as the scheduler would have it, so the node's pod watch has it.
 */
export const newPod = async (harness: Harness, options: PodOptions = {}): Promise<Pod> => {
  const name = options.name ?? `app-${randomUUID().slice(0, 8)}`
  const namespace = options.namespace ?? "sandbox"
  const sa = options.serviceAccountName
  const pod = await harness.sandbox.registerPod({
    namespace,
    name,
    nodeName: nodeId,
    ...(sa === undefined ? {} : { serviceAccountName: sa }),
  })
  return {
    name,
    namespace,
    uid: String(pod.metadata.uid),
    ...(sa === undefined ? {} : { serviceAccountName: sa }),
  }
}

/**
 * Key and certificate of a mounted volume, read as a careful reader does: through one
 * resolution of `..data` in `dir` (a path as seen from here, e.g. through /proc/<pid>/root;
 * realpath would leave that view).
 */
export const readKeyPair = async (dir: string) => {
  const data = path.join(dir, await fs.readlink(path.join(dir, "..data")))
  const [cert, key] = await Promise.all([
    fs.readFile(path.join(data, "tls.crt"), "utf8"),
    fs.readFile(path.join(data, "tls.key"), "utf8"),
  ])
  return { cert, key }
}

/** Whether the certificate is for the key. */
export const keyMatches = (pair: { cert: string; key: string }) =>
  new X509Certificate(pair.cert).publicKey
    .export({ type: "spki", format: "der" })
    .equals(createPublicKey(pair.key).export({ type: "spki", format: "der" }))

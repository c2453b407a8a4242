/**
 * Shared set-up for end-to-end tests: a sandbox (API server + CA issuer), a
 * private mount namespace, the built driver running inside it, and a kubelet.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { type RunningSandbox, startSandbox } from "../../src/testing/sandbox.js"
import { DriverProcess, MountNamespace } from "../support/driver-process.js"
import { Kubelet } from "../support/kubelet.js"

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

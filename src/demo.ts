/**
 * `npm run demo`: the driver's main job on the embedded default. Starts the
 * sandbox (Kubernetes API + CA issuer), the driver on a temporary socket and data
 * root, and a kubelet-like client that mounts the seed page's example pod; prints
 * the files, the certificate and its CertificateRequest; with `--renew`, watches one
 * renewal replace the files; with `--pod-ip`, the certificate carries the pod's
 * addresses, which it gets after the mount. Cleans up (unpublish, stop) and exits 0,
 * or non-zero with the reason.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Duration, Effect, Layer, Schedule } from "effect"
import { driverLayer } from "./app.js"
import type { DriverConfig } from "./config.js"
import { makeClient, volumeFor } from "./demo/client.js"
import { mountMode, reexecInPrivateNamespace } from "./demo/namespace.js"
import { PlainDirectoryMounter } from "./demo/plain-mounter.js"
import { assignIpsAndAwaitCertificate, podIpAttributes } from "./demo/pod-ip.js"
import { readMounted, showCertificate, showFiles, showRequest } from "./demo/show.js"
import { makeSandbox } from "./testing/sandbox.js"

const renew = process.argv.includes("--renew")
const podIp = process.argv.includes("--pod-ip")

const attributes: Record<string, string> = {
  "csi.cert-manager.io/issuer-name": "ca-issuer",
  "csi.cert-manager.io/issuer-kind": "Issuer",
  "csi.cert-manager.io/dns-names": "${POD_NAME}.${POD_NAMESPACE}.svc.cluster.local",
  ...(renew ? { "csi.cert-manager.io/duration": "30s", "csi.cert-manager.io/renew-before": "24s" } : {}),
  ...(podIp ? podIpAttributes : {}),
}

const unmount = (target: string) =>
  new Promise<void>((resolve) => execFile("umount", [target], () => resolve()))

const step = (text: string) => Console.log(`\n▶ ${text}`)

const demo = Effect.gen(function* () {
  const mode = mountMode()
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "csi-demo-"))),
    // The driver leaves its tmpfs mounted on purpose (a restart reuses it); the demo takes it down.
    (dir) =>
      Effect.promise(async () => {
        if (mode === "real") await unmount(path.join(dir, "csi-data-dir"))
        await fs.rm(dir, { recursive: true, force: true })
      }),
  )
  yield* step("starting the sandbox: an in-process Kubernetes API server and a cert-manager-like CA issuer")
  const sandbox = yield* makeSandbox()
  const kubeconfig = path.join(dir, "kubeconfig")
  yield* Effect.promise(() =>
    fs.writeFile(kubeconfig, sandbox.kubeconfig(sandbox.driverToken), { mode: 0o600 }),
  )
  yield* Console.log(`  API server at ${sandbox.url}`)

  yield* step(
    mode === "real"
      ? "starting the driver: real tmpfs and read-only bind mounts, in a private mount namespace"
      : "starting the driver: not root, so it cannot mount — using a plain directory and a symlink instead",
  )
  const config: DriverConfig = {
    nodeId: os.hostname(),
    socketPath: path.join(dir, "csi.sock"),
    driverName: "csi.cert-manager.io",
    dataRoot: path.join(dir, "csi-data-dir"),
    useTokenRequest: false,
    // ${POD_IPS} is known only after the mount: the volume mounts at once and is issued later.
    continueOnNotReady: podIp,
    metricsAddress: undefined,
    kubeApiQps: 50,
    kubeApiBurst: 100,
    kubeconfig,
    logLevel: "Warn",
    logFormat: "text",
  }
  yield* Layer.build(driverLayer(config, mode === "real" ? {} : { mounter: PlainDirectoryMounter }))
  yield* Console.log(`  serving CSI on unix://${config.socketPath}`)

  const registered = yield* sandbox.registerPod({
    namespace: "sandbox",
    name: "my-csi-app",
    nodeName: config.nodeId,
  })
  const pod = { name: "my-csi-app", namespace: "sandbox", uid: String(registered.metadata.uid) }
  const volume = volumeFor(path.join(dir, "kubelet"), pod, "tls")
  yield* Effect.promise(() => fs.mkdir(path.dirname(volume.targetPath), { recursive: true }))
  const client = yield* makeClient(config.socketPath)

  yield* step(`publishing the seed page's example pod ${pod.namespace}/${pod.name} (NodePublishVolume)`)
  for (const [key, value] of Object.entries(attributes)) yield* Console.log(`  ${key}: ${value}`)
  const started = Date.now()
  yield* client.publish(volume, pod, attributes)
  yield* Console.log(`  mounted in ${Date.now() - started} ms`)
  if (podIp) yield* assignIpsAndAwaitCertificate(sandbox, pod, volume.targetPath, started)
  yield* showFiles(volume.targetPath)
  const read = Effect.all([
    readMounted(volume.targetPath, "tls.crt"),
    readMounted(volume.targetPath, "tls.key"),
    readMounted(volume.targetPath, "ca.crt"),
  ])
  const [cert, key, ca] = yield* read
  const shown = yield* showCertificate(cert, key, ca)
  const [request] = yield* sandbox.listCertificateRequests("sandbox")
  if (request !== undefined) yield* showRequest(request)
  if (!shown.verified)
    return yield* Effect.fail(new Error("the mounted key and certificate do not check out"))

  if (renew) {
    yield* step("waiting for the renewal (duration 30s, renew-before 24s: due about 6s after issuance)")
    const renewed = yield* read.pipe(
      Effect.flatMap(([next]) => (next === cert ? Effect.fail("not yet") : Effect.succeed(next))),
      Effect.retry(Schedule.spaced(Duration.millis(200)).pipe(Schedule.upTo({ times: 200 }))),
      Effect.mapError(() => new Error("no renewal within 40 seconds")),
    )
    yield* Console.log("  the files were replaced in place, in one atomic swap:")
    const [, nextKey, nextCa] = yield* read
    const after = yield* showCertificate(renewed, nextKey, nextCa)
    yield* Console.log(
      `  serial ${shown.serial} → ${after.serial}; new key: ${nextKey !== key ? "yes" : "no"}`,
    )
    if (!after.verified)
      return yield* Effect.fail(new Error("the renewed key and certificate do not check out"))
  }

  yield* step("unpublishing (NodeUnpublishVolume): unmount, remove the files, delete the request")
  yield* client.unpublish(volume)
  const left = yield* sandbox.listCertificateRequests("sandbox")
  yield* Console.log(`  CertificateRequests left: ${left.length}`)
  yield* step("done")
})

const main = Effect.gen(function* () {
  if (yield* reexecInPrivateNamespace) return
  yield* Effect.scoped(demo)
})

NodeRuntime.runMain(main)

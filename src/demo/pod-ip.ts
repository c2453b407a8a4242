// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${POD_IPS} is an attribute value, not a template
/**
 * `npm run demo -- --pod-ip`: kubelet mounts a pod's volumes before the network plugin
 * gives the pod its addresses. The volume asks for `${POD_IPS}` in its IP SANs, so the
 * driver (with --continue-on-not-ready) mounts it empty at once; the demo then plays
 * the network plugin, setting the pod's status.podIPs, and waits for the certificate
 * carrying those addresses to appear in the mounted volume.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Console, Duration, Effect, Schedule } from "effect"
import type { Sandbox } from "../testing/sandbox.js"
import type { DemoPod } from "./client.js"

export const podIpAttributes: Record<string, string> = { "csi.cert-manager.io/ip-sans": "${POD_IPS}" }

/** A dual-stack pod's addresses, as a CNI plugin would assign them. */
const addresses = ["10.244.0.7", "fd00:10:244::7"]

const step = (text: string) => Console.log(`\n▶ ${text}`)

/** After the mount: shows the empty volume, assigns the pod's IPs, waits for the certificate. */
export const assignIpsAndAwaitCertificate = (
  sandbox: Sandbox,
  pod: DemoPod,
  targetPath: string,
  mountedAt: number,
) =>
  Effect.gen(function* () {
    const files = yield* Effect.promise(() => fs.readdir(targetPath))
    const requests = yield* sandbox.listCertificateRequests(pod.namespace)
    yield* step("mounted, but the pod has no IP yet: the driver waits before requesting anything")
    yield* Console.log(`  files in the volume: ${files.length === 0 ? "none yet" : files.join(", ")}`)
    yield* Console.log(`  CertificateRequests: ${requests.length}`)
    yield* Effect.sleep(Duration.seconds(1))
    yield* step(`the network plugin gives the pod its addresses: ${addresses.join(", ")} (status.podIPs)`)
    const assignedAt = Date.now()
    yield* sandbox.updatePod(pod.namespace, pod.name, { ips: addresses })
    yield* Effect.tryPromise(() => fs.readFile(path.join(targetPath, "tls.crt"))).pipe(
      Effect.retry(Schedule.spaced(Duration.millis(20)).pipe(Schedule.upTo({ times: 1500 }))),
      Effect.mapError(() => new Error("no certificate within 30 seconds of the pod's addresses")),
    )
    const now = Date.now()
    yield* Console.log(
      `  the certificate arrived after the mount: ${now - assignedAt} ms after the addresses, ${now - mountedAt} ms after the mount`,
    )
  })

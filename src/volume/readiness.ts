/**
 * Holds each issuance of a volume until its pod is ready for it: every
 * `--pod-readiness-gate` passes, and a volume whose attributes use `${POD_IP}` or
 * `${POD_IPS}` waits for an address (an implicit `pod-ip:any`). Nothing is requested
 * before: no key, no CertificateRequest. The pod watch wakes the waiter the moment the
 * pod changes; the gate backoff only paces looks when no change comes. The pod gets an
 * event naming the unmet gates when they first hold it back and when they change, not
 * at every look. Once ready, the pod's current IPs are recorded for the expansion.
 */
import { Effect, Option, Queue, Random } from "effect"
import { podIpAttributes } from "../attributes/index.js"
import type { PodInfo } from "../attributes/spec.js"
import { Config } from "../config.js"
import { defaultGateBackoff, gateDelay } from "../gates/backoff.js"
import { evaluate, type ReadinessGate } from "../gates/gates.js"
import { PodEvents } from "../kube/events.js"
import { type Pod, Pods } from "../kube/pods.js"
import { type VolumeMetadata, VolumeStore } from "./store.js"

const anyIp: ReadinessGate = { _tag: "PodIp", family: "any" }

/** The gates of one volume: the flags', plus an address for one that uses the pod's IPs. */
export const gatesFor = (
  configured: ReadonlyArray<ReadinessGate>,
  metadata: Pick<VolumeMetadata, "attributes">,
): ReadonlyArray<ReadinessGate> => {
  const usesIps = podIpAttributes(metadata.attributes).length > 0
  return usesIps && !configured.some((gate) => gate._tag === "PodIp") ? [...configured, anyIp] : configured
}

/** Events are shown to users: bounded like every message built from input. */
const maxMessage = 2048
const clip = (text: string) => (text.length > maxMessage ? `${text.slice(0, maxMessage - 1)}…` : text)

interface Look {
  /** The pod, when the watch has the one this volume was published for. */
  readonly pod: Pod | undefined
  /** Why it is not ready; empty when it is. */
  readonly unmet: ReadonlyArray<string>
}

const look = (pods: Pods["Service"], ref: PodInfo, gates: ReadonlyArray<ReadinessGate>) =>
  Effect.map(pods.presence(ref), (presence): Look => {
    switch (presence._tag) {
      case "Present":
        return { pod: presence.pod, unmet: evaluate(gates, presence.pod).unmet }
      case "Unknown":
        return { pod: undefined, unmet: ["the driver has not listed this node's pods yet"] }
      case "Absent":
        return { pod: undefined, unmet: ["the pod is not (yet) among this node's pods"] }
      case "Replaced":
        return {
          pod: undefined,
          unmet: [`pod ${ref.namespace}/${ref.name} is now another pod (uid ${presence.pod.metadata.uid})`],
        }
    }
  })

const sameIps = (a: ReadonlyArray<string> | undefined, b: ReadonlyArray<string>) =>
  a !== undefined && a.length === b.length && a.every((ip, i) => ip === b[i])

/**
 * Returns once the volume may be issued, with its metadata as it stands then (none: the
 * volume is gone), so the issuance need not read it again. A volume with a request in
 * flight from an earlier run was ready when it was made: it resumes as it is. `read` is
 * the volume's metadata when the caller has just read it (no second read of the same file).
 */
export const awaitReadiness = Effect.fnUntraced(function* (
  volumeId: string,
  read?: Option.Option<VolumeMetadata>,
) {
  const config = yield* Config
  const store = yield* VolumeStore
  const stored = read ?? (yield* store.read(volumeId))
  if (Option.isNone(stored) || stored.value.pendingRequest !== undefined) return stored
  const metadata = stored.value
  const gates = gatesFor(config.readinessGates ?? [], metadata)
  if (gates.length === 0) return stored
  const usesIps = podIpAttributes(metadata.attributes).length > 0
  const pods = yield* Pods
  const events = yield* PodEvents
  const backoff = config.gateBackoff ?? defaultGateBackoff
  const ref = metadata.pod

  return yield* Effect.scoped(
    Effect.gen(function* () {
      // Subscribed before the first look, so no change falls between the two.
      const changes = yield* pods.changesOf(ref.namespace, ref.name)
      // Until the node's pods are listed, nothing can be judged (at start, every volume would say so).
      yield* pods.firstSync
      let step = 0
      let told: string | undefined
      while (true) {
        const now = yield* look(pods, ref, gates)
        if (now.pod !== undefined && now.unmet.length === 0) {
          let current: Option.Option<VolumeMetadata> = stored
          if (usesIps && !sameIps(ref.ips, now.pod.ips)) {
            const ips = now.pod.ips
            current = Option.some(yield* store.update(volumeId, (m) => ({ ...m, pod: { ...m.pod, ips } })))
          }
          if (told !== undefined) yield* Effect.logInfo("readiness gates passed; requesting the certificate")
          return current
        }
        const message = clip(
          `waiting to request a certificate until the pod passes its readiness gates: ${now.unmet.join("; ")}`,
        )
        // A pod not on the watch yet is usually its ADDED event still on the way: said only if it lasts.
        const settled = now.pod !== undefined || step > 0
        if (settled && message !== told) {
          yield* Effect.logInfo("waiting for readiness gates").pipe(Effect.annotateLogs({ unmet: now.unmet }))
          yield* events.record(ref, { type: "Normal", reason: "WaitingForReadinessGates", message })
          told = message
        }
        const delay = gateDelay(backoff, step, yield* Random.next)
        const woken = yield* Effect.race(
          Effect.as(Queue.take(changes), "pod" as const),
          Effect.as(Effect.sleep(delay), "timer" as const),
        )
        // One look covers every change queued meanwhile; the backoff grows only when nothing came.
        if (woken === "pod") yield* Queue.clear(changes)
        else step++
      }
    }),
  )
})

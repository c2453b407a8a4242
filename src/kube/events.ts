/**
 * Events on the pod, so `kubectl describe pod` says why a mount is waiting:
 * issuance denied or failed, still pending, renewal failed, renewed. Repeats of
 * the same event are folded into one with a rising `count`, as kubelet's recorder
 * does. Best effort: an event that cannot be posted is logged and dropped, and
 * never fails the operation that raised it. Messages are cut at 1 KiB.
 */
import { createHash } from "node:crypto"
import { Clock, Context, Effect, Layer, Predicate } from "effect"
import type { PodInfo } from "../attributes/spec.js"
import { cutToBytes } from "../bounded.js"
import { Config } from "../config.js"
import { KubeClient } from "./client.js"

export type EventType = "Normal" | "Warning"

export interface PodEvent {
  readonly type: EventType
  readonly reason: string
  readonly message: string
}

const component = "cert-manager-csi-driver"
/** Remembered events per driver, for folding repeats; the oldest are forgotten first. */
const rememberedLimit = 4096
/**
 * The most bytes of an event's message: events.k8s.io refuses longer notes, and
 * messages carry the issuer's and the API server's words, whose length we do not choose.
 */
export const maxEventMessageBytes = 1024

/** An event's identity for folding, as a fixed-size hash: messages must not be held 4,096 times. */
const foldKeyOf = (pod: PodInfo, event: PodEvent): string =>
  createHash("sha256")
    .update(`${pod.uid}\u0000${event.type}\u0000${event.reason}\u0000${event.message}`)
    .digest("base64")

const eventsPath = (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`

/** The name the API server gave a created event (from `generateName`); "" when its answer has none. */
const createdName = (created: unknown): string => {
  const metadata = Predicate.hasProperty(created, "metadata") ? created.metadata : undefined
  const name = Predicate.hasProperty(metadata, "name") ? metadata.name : undefined
  return Predicate.isString(name) ? name : ""
}

export class PodEvents extends Context.Service<
  PodEvents,
  { readonly record: (pod: PodInfo, event: PodEvent) => Effect.Effect<void> }
>()("csi/PodEvents") {
  static readonly layer = Layer.effect(
    PodEvents,
    Effect.gen(function* () {
      const config = yield* Config
      const kube = yield* KubeClient
      const seen = new Map<string, { readonly name: string; count: number }>()

      const post = Effect.fnUntraced(function* (pod: PodInfo, given: PodEvent) {
        const event = { ...given, message: cutToBytes(given.message, maxEventMessageBytes) }
        const now = new Date(yield* Clock.currentTimeMillis)
        const key = foldKeyOf(pod, event)
        const earlier = seen.get(key)
        if (earlier !== undefined) {
          earlier.count += 1
          const patch = [
            { op: "replace", path: "/count", value: earlier.count },
            { op: "replace", path: "/lastTimestamp", value: now.toISOString() },
          ]
          yield* kube.call("patch", "events", () =>
            kube.driver.json(
              "PATCH",
              `${eventsPath(pod.namespace)}/${encodeURIComponent(earlier.name)}`,
              patch,
              "application/json-patch+json",
            ),
          )
          return
        }
        const created = yield* kube.call("create", "events", () =>
          kube.driver.json("POST", eventsPath(pod.namespace), {
            metadata: { generateName: `${pod.name}.`, namespace: pod.namespace },
            involvedObject: {
              apiVersion: "v1",
              kind: "Pod",
              name: pod.name,
              namespace: pod.namespace,
              uid: pod.uid,
            },
            type: event.type,
            reason: event.reason,
            message: event.message,
            source: { component, host: config.nodeId },
            reportingComponent: component,
            reportingInstance: config.nodeId,
            firstTimestamp: now.toISOString(),
            lastTimestamp: now.toISOString(),
            count: 1,
          }),
        )
        if (seen.size >= rememberedLimit) seen.delete(seen.keys().next().value ?? "")
        seen.set(key, { name: createdName(created), count: 1 })
      })

      return PodEvents.of({
        record: (pod, event) =>
          post(pod, event).pipe(
            Effect.catch((error) =>
              Effect.logWarning("could not post an event on the pod").pipe(
                Effect.annotateLogs({ reason: event.reason, error: error.message }),
              ),
            ),
          ),
      })
    }),
  )
}

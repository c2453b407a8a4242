/**
 * A PodEvents that records instead of posting, for unit tests: read back which
 * events each pod would have got.
 */
import { Context, Effect, Layer } from "effect"
import type { PodInfo } from "../attributes/spec.js"
import { type PodEvent, PodEvents } from "../kube/events.js"

export interface RecordedEvent extends PodEvent {
  readonly pod: PodInfo
}

export class RecordingPodEvents extends Context.Service<
  RecordingPodEvents,
  { readonly events: Effect.Effect<ReadonlyArray<RecordedEvent>> }
>()("csi/testing/RecordingPodEvents") {
  static readonly layer = Layer.effectContext(
    Effect.sync(() => {
      const recorded: Array<RecordedEvent> = []
      return Context.make(
        PodEvents,
        PodEvents.of({ record: (pod, event) => Effect.sync(() => void recorded.push({ pod, ...event })) }),
      ).pipe(
        Context.add(RecordingPodEvents, RecordingPodEvents.of({ events: Effect.sync(() => [...recorded]) })),
      )
    }),
  )
}

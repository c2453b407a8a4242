/**
 * The Volumes service is what the gRPC edge calls: the publish and unpublish
 * programs with their services already provided, so a handler needs nothing else.
 */
import { Context, Effect, Layer } from "effect"
import type { PublishRequest, UnpublishRequest } from "../csi/request.js"
import { providerOf } from "./provided.js"
import { publish } from "./publish.js"
import { unpublish } from "./unpublish.js"

type PublishError = Effect.Error<ReturnType<typeof publish>>
type UnpublishError = Effect.Error<ReturnType<typeof unpublish>>
type Requirements =
  | Effect.Services<ReturnType<typeof publish>>
  | Effect.Services<ReturnType<typeof unpublish>>

export class Volumes extends Context.Service<
  Volumes,
  {
    readonly publish: (request: PublishRequest) => Effect.Effect<void, PublishError>
    readonly unpublish: (request: UnpublishRequest) => Effect.Effect<void, UnpublishError>
  }
>()("csi/Volumes") {
  static readonly layer = Layer.effect(
    Volumes,
    Effect.gen(function* () {
      const context = yield* Effect.context<Requirements>()
      // Every call's fiber starts from the gRPC server's one context: merged once, not per call.
      const provided = providerOf(context)
      return Volumes.of({
        publish: (request) => provided(publish(request)),
        unpublish: (request) => provided(unpublish(request)),
      })
    }),
  )
}

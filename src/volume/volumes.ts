/**
 * The Volumes service is what the gRPC edge calls: the publish and unpublish
 * programs with their services already provided, so a handler needs nothing else.
 */
import { Context, Effect, Layer } from "effect"
import type { PublishRequest, UnpublishRequest } from "../csi/request.js"
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
      // Every call's fiber starts from the gRPC server's one context. Merging these services
      // into it copies both (~9 KiB a call, and a new context cache): the merge is made once
      // per caller context and reused while calls come from the same one. Contexts never change.
      let caller: Context.Context<never> | undefined
      let merged: Context.Context<Requirements> = context
      const provided = <A, E>(effect: Effect.Effect<A, E, Requirements>): Effect.Effect<A, E> =>
        Effect.updateContext(effect, (current: Context.Context<never>) => {
          if (current !== caller) {
            caller = current
            merged = Context.merge(current, context)
          }
          return merged
        })
      return Volumes.of({
        publish: (request) => provided(publish(request)),
        unpublish: (request) => provided(unpublish(request)),
      })
    }),
  )
}

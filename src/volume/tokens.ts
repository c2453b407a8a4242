/**
 * The pods' service-account tokens for `--use-token-request`, held in memory only
 * (never logged, never written to disk). Kubelet refreshes them with every
 * republish; an issuance that needs a token while none is valid waits for the next.
 */
import { Clock, Context, Effect, Layer, Option, PubSub } from "effect"
import type { ServiceAccountToken } from "../csi/token.js"

/** A token this close to expiry is treated as expired: the request must not outlive it. */
const expirySlackMillis = 30_000

export class Tokens extends Context.Service<
  Tokens,
  {
    readonly set: (volumeId: string, token: ServiceAccountToken) => Effect.Effect<void>
    /** Waits until the volume holds a token that is not about to expire. */
    readonly awaitValid: (volumeId: string) => Effect.Effect<ServiceAccountToken>
    readonly remove: (volumeId: string) => Effect.Effect<void>
  }
>()("csi/Tokens") {
  static readonly layer = Layer.effect(
    Tokens,
    Effect.gen(function* () {
      // Changed in place: kubelet republishes every volume with a fresh token (every minute or
      // so with requiresRepublish), and a copy per change would cost a node of 1,000 volumes
      // a copy of 1,000 entries per republish. Each change is one synchronous step.
      const tokens = new Map<string, ServiceAccountToken>()
      const updates = yield* PubSub.unbounded<string>()
      const valid = (volumeId: string) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const token = tokens.get(volumeId)
          const fresh =
            token !== undefined &&
            (token.expiresAt === undefined || token.expiresAt.getTime() - expirySlackMillis > now)
          return fresh ? Option.some(token) : Option.none()
        })
      // Subscribed (then checked again) only when no valid token is there: the usual issuance
      // finds the one its publish just set, and a subscription is a scope and a queue.
      const awaitNext = (volumeId: string) =>
        Effect.scoped(
          Effect.gen(function* () {
            const subscription = yield* PubSub.subscribe(updates)
            while (true) {
              const token = yield* valid(volumeId)
              if (Option.isSome(token)) return token.value
              while ((yield* PubSub.take(subscription)) !== volumeId) {}
            }
          }),
        )
      const awaitValid = (volumeId: string) =>
        Effect.flatMap(valid(volumeId), (token) =>
          Option.isSome(token) ? Effect.succeed(token.value) : awaitNext(volumeId),
        )
      return Tokens.of({
        set: (volumeId, token) =>
          Effect.andThen(
            Effect.sync(() => tokens.set(volumeId, token)),
            PubSub.publish(updates, volumeId),
          ),
        awaitValid,
        remove: (volumeId) =>
          Effect.sync(() => {
            tokens.delete(volumeId)
          }),
      })
    }),
  )
}

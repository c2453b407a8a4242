/**
 * The pods' service-account tokens for `--use-token-request`, held in memory only
 * (never logged, never written to disk). Kubelet refreshes them with every
 * republish; an issuance that needs a token while none is valid waits for the next.
 */
import { Clock, Context, Effect, Layer, Option, PubSub, Ref } from "effect"
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
      const tokens = yield* Ref.make(new Map<string, ServiceAccountToken>())
      const updates = yield* PubSub.unbounded<string>()
      const valid = (volumeId: string) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const token = (yield* Ref.get(tokens)).get(volumeId)
          const fresh =
            token !== undefined &&
            (token.expiresAt === undefined || token.expiresAt.getTime() - expirySlackMillis > now)
          return fresh ? Option.some(token) : Option.none()
        })
      const awaitValid = (volumeId: string) =>
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
      return Tokens.of({
        set: (volumeId, token) =>
          Ref.update(tokens, (all) => new Map(all).set(volumeId, token)).pipe(
            Effect.andThen(PubSub.publish(updates, volumeId)),
          ),
        awaitValid,
        remove: (volumeId) =>
          Ref.update(tokens, (all) => {
            const next = new Map(all)
            next.delete(volumeId)
            return next
          }),
      })
    }),
  )
}

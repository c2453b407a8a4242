/**
 * `Effect.provide(context)` for effects that run again and again from the same fibers (the
 * gRPC server's calls, a stream's elements): it merges `context` into the running fiber's
 * context, which copies both (~4 KiB with the driver's services, and a new fiber context
 * cache). Contexts never change, so the merge made for one caller context is kept and
 * reused while calls come from that same context; another caller's gets a merge of its own.
 */
import { Context, Effect } from "effect"

export const providerOf = <R>(context: Context.Context<R>) => {
  let caller: Context.Context<never> | undefined
  let merged: Context.Context<R> = context
  return <A, E>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E> =>
    Effect.updateContext(effect, (current: Context.Context<never>) => {
      if (current !== caller) {
        caller = current
        merged = Context.merge(current, context)
      }
      return merged
    })
}

/**
 * What tests turn and read on the API server: injected faults (a share of requests
 * failing with 503, added latency, watch streams cut after a while, users refused
 * with 403) and counters
 * (requests by resource and verb, writes, open and total watches, client connections).
 */
import { Context, Effect, Layer } from "effect"

export interface Faults {
  /** Share of resource requests (0..1) answered 503 ServiceUnavailable. */
  readonly failureRate: number
  /** Added to every request before it is handled. */
  readonly latencyMs: number
  /** Watch streams are cut (the connection dropped) this long after they open; undefined = never. */
  readonly dropWatchesAfterSeconds: number | undefined
  /** Users (by username) whose resource requests get 403 Forbidden, as users without RBAC do. */
  readonly forbiddenUsers: ReadonlyArray<string>
}

export interface Stats {
  /** Requests per resource (`certificaterequests`, `certificaterequests/status`, `/version`…) and verb. */
  readonly requests: Readonly<Record<string, Readonly<Record<string, number>>>>
  readonly requestsTotal: number
  /** Successful create, update, patch and delete requests. */
  readonly writes: number
  readonly openWatches: number
  readonly watchesOpened: number
  /** Client connections (TCP, TLS included) open now, at most at once since the reset, and opened since. */
  readonly openConnections: number
  readonly maxOpenConnections: number
  readonly connectionsOpened: number
  /** Requests answered 503 by the failure rate. */
  readonly failuresInjected: number
}

export const noFaults: Faults = {
  failureRate: 0,
  latencyMs: 0,
  dropWatchesAfterSeconds: undefined,
  forbiddenUsers: [],
}

export class ServerControls extends Context.Service<
  ServerControls,
  {
    readonly faults: Effect.Effect<Faults>
    /** Changes the named faults, keeps the rest. */
    readonly setFaults: (faults: Partial<Faults>) => Effect.Effect<void>
    readonly countRequest: (resource: string, verb: string) => Effect.Effect<void>
    readonly countWrite: Effect.Effect<void>
    readonly countInjectedFailure: Effect.Effect<void>
    readonly watchOpened: Effect.Effect<void>
    readonly watchClosed: Effect.Effect<void>
    readonly connectionOpened: Effect.Effect<void>
    readonly connectionClosed: Effect.Effect<void>
    readonly stats: Effect.Effect<Stats>
    readonly resetStats: Effect.Effect<void>
  }
>()("csi/testing/ServerControls") {
  static readonly make = (initial?: Partial<Faults>): Effect.Effect<ServerControls["Service"]> =>
    Effect.sync(() => {
      let faults: Faults = { ...noFaults, ...initial }
      let requests = new Map<string, Map<string, number>>()
      let requestsTotal = 0
      let writes = 0
      let openWatches = 0
      let watchesOpened = 0
      let openConnections = 0
      let maxOpenConnections = 0
      let connectionsOpened = 0
      let failuresInjected = 0
      return ServerControls.of({
        faults: Effect.sync(() => faults),
        setFaults: (f) =>
          Effect.sync(() => {
            faults = { ...faults, ...f }
          }),
        countRequest: (resource, verb) =>
          Effect.sync(() => {
            const byVerb = requests.get(resource) ?? new Map<string, number>()
            byVerb.set(verb, (byVerb.get(verb) ?? 0) + 1)
            requests.set(resource, byVerb)
            requestsTotal++
          }),
        countWrite: Effect.sync(() => void writes++),
        countInjectedFailure: Effect.sync(() => void failuresInjected++),
        watchOpened: Effect.sync(() => {
          openWatches++
          watchesOpened++
        }),
        watchClosed: Effect.sync(() => void openWatches--),
        connectionOpened: Effect.sync(() => {
          openConnections++
          connectionsOpened++
          maxOpenConnections = Math.max(maxOpenConnections, openConnections)
        }),
        connectionClosed: Effect.sync(() => void openConnections--),
        stats: Effect.sync(() => ({
          requests: Object.fromEntries([...requests].map(([r, verbs]) => [r, Object.fromEntries(verbs)])),
          requestsTotal,
          writes,
          openWatches,
          watchesOpened,
          openConnections,
          maxOpenConnections,
          connectionsOpened,
          failuresInjected,
        })),
        resetStats: Effect.sync(() => {
          requests = new Map()
          requestsTotal = 0
          writes = 0
          watchesOpened = openWatches
          maxOpenConnections = openConnections
          connectionsOpened = 0
          failuresInjected = 0
        }),
      })
    })
  static readonly layer = (initial?: Partial<Faults>) =>
    Layer.effect(ServerControls, ServerControls.make(initial))
}

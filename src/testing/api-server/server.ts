/**
 * The API server as a service: the router over the store, users and controls, served
 * by a listener on `host:port` (HTTPS when given TLS material). It starts listening when
 * built and stops when its scope closes; `stop`/`start` in between keep the store, so
 * tests can take the API away and bring it back on the same URL.
 */
import { Context, Duration, Effect, Layer } from "effect"
import { ServerControls } from "./controls.js"
import { type ListenError, makeListener, type TlsMaterial } from "./http.js"
import { now } from "./rest.js"
import { makeRouter } from "./router.js"
import { ObjectStore } from "./store.js"
import { Users } from "./users.js"

export interface ApiServerOptions {
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Default 0: any free port (kept across stop/start). */
  readonly port?: number
  /** Serve HTTPS with this certificate; plain HTTP when absent. */
  readonly tls?: TlsMaterial
  /** How often watches that allow bookmarks get one. Default 10 seconds. */
  readonly bookmarkInterval?: Duration.Input
}

export class ApiServer extends Context.Service<
  ApiServer,
  {
    /** `https://127.0.0.1:<port>` (or http). */
    readonly url: () => string
    readonly port: () => number
    readonly listening: () => boolean
    readonly start: Effect.Effect<void, ListenError>
    readonly stop: Effect.Effect<void>
    /** Cuts every open watch stream now, as a network blip would. */
    readonly dropWatches: Effect.Effect<void>
  }
>()("csi/testing/ApiServer") {
  static readonly make = (options?: ApiServerOptions) =>
    Effect.gen(function* () {
      const store = yield* ObjectStore
      const users = yield* Users
      const controls = yield* ServerControls
      const host = options?.host ?? "127.0.0.1"
      const scheme = options?.tls === undefined ? "http" : "https"
      const hostPart = host.includes(":") ? `[${host}]` : host
      let listenerPort = () => options?.port ?? 0
      const router = makeRouter({
        store,
        users,
        controls,
        bookmarkInterval: Duration.fromInputUnsafe(options?.bookmarkInterval ?? "10 seconds"),
        serverAddress: () => `${hostPart}:${listenerPort()}`,
        startedAt: yield* now,
      })
      const listener = yield* makeListener({
        host,
        port: options?.port ?? 0,
        tls: options?.tls,
        handle: router.handle,
        connectionOpened: controls.connectionOpened,
        connectionClosed: controls.connectionClosed,
      })
      listenerPort = listener.port
      yield* listener.start
      return ApiServer.of({
        url: () => `${scheme}://${hostPart}:${listener.port()}`,
        port: listener.port,
        listening: listener.listening,
        start: listener.start,
        stop: listener.stop,
        dropWatches: listener.dropWatches,
      })
    })

  static readonly layer = (options?: ApiServerOptions) => Layer.effect(ApiServer, ApiServer.make(options))
}

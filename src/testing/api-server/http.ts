/**
 * The thin adapter between node:http(s) and the router's Effect programs. We use node's
 * server directly rather than Effect's HttpServer because a watch must flush each line
 * the moment it exists, a dropped-watch fault must cut the socket mid-stream, and tests
 * stop and restart the listener on the same port while keeping the store; all three are
 * one line each on a raw `http.Server`. Each request runs as a fiber in a FiberSet owned
 * by the listener's scope, interrupted when its client goes away.
 */
import * as http from "node:http"
import * as https from "node:https"
import type { Socket } from "node:net"
import { Data, Effect, Fiber, FiberSet, type Scope } from "effect"
import type { ApiRequest, ApiResponse } from "./router.js"

export class ListenError extends Data.TaggedError("ListenError")<{
  readonly host: string
  readonly port: number
  readonly cause: unknown
}> {}

export interface TlsMaterial {
  readonly certificatePem: string
  readonly privateKeyPem: string
}

export interface ListenerOptions {
  readonly host: string
  /** 0 picks a free port at the first start; later starts reuse it. */
  readonly port: number
  readonly tls: TlsMaterial | undefined
  readonly handle: (req: ApiRequest) => Effect.Effect<ApiResponse>
  /** Told of every client connection as it opens and closes. */
  readonly connectionOpened: Effect.Effect<void>
  readonly connectionClosed: Effect.Effect<void>
}

export interface Listener {
  /** The bound port (the requested one until the first start). */
  readonly port: () => number
  readonly listening: () => boolean
  /** Starts accepting connections; a no-op when already listening. */
  readonly start: Effect.Effect<void, ListenError>
  /** Stops accepting and drops every open connection, watches included. */
  readonly stop: Effect.Effect<void>
  /** Drops the connections of open watch streams only. */
  readonly dropWatches: Effect.Effect<void>
}

const maxBody = 3 * 1024 * 1024

/** Creates the server (not yet listening); closing the scope stops it. */
export const makeListener = (options: ListenerOptions): Effect.Effect<Listener, never, Scope.Scope> =>
  Effect.gen(function* () {
    const runFork = yield* FiberSet.makeRuntime<never, void, never>()
    const sockets = new Set<Socket>()
    const watchSockets = new Set<Socket>()
    let port = options.port
    let listening = false

    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const chunks: Array<Buffer> = []
      let size = 0
      req.on("data", (c: Buffer) => {
        size += c.length
        if (size <= maxBody) chunks.push(c)
      })
      req.on("end", () => {
        if (size > maxBody) {
          writeJson(res, 413, {
            kind: "Status",
            apiVersion: "v1",
            metadata: {},
            status: "Failure",
            message: "the request body is too large",
            reason: "RequestEntityTooLarge",
            code: 413,
          })
          return
        }
        const url = new URL(req.url ?? "/", "http://localhost")
        const apiReq: ApiRequest = {
          method: req.method ?? "GET",
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }
        const fiber = runFork(
          options.handle(apiReq).pipe(
            // a bug in a handler still gets an answer, as the apiserver's panic recovery gives
            Effect.catchDefect((defect) =>
              Effect.as(Effect.logError("sandbox API: request handler crashed", defect), internalError),
            ),
            Effect.flatMap((answer) => respond(res, answer)),
          ),
        )
        res.on("close", () => {
          if (fiber.pollUnsafe() === undefined) runFork(Fiber.interrupt(fiber))
        })
      })
    }

    const respond = (res: http.ServerResponse, answer: ApiResponse): Effect.Effect<void> => {
      switch (answer._tag) {
        case "Json":
          return Effect.sync(() => writeJson(res, answer.status, answer.body))
        case "Text":
          return Effect.sync(() => {
            res.writeHead(answer.status, { "Content-Type": "text/plain; charset=utf-8" })
            res.end(answer.text)
          })
        case "Watch":
          return streamWatch(res, answer)
      }
    }

    const streamWatch = (res: http.ServerResponse, answer: Extract<ApiResponse, { _tag: "Watch" }>) =>
      Effect.gen(function* () {
        const socket = res.socket
        yield* Effect.sync(() => {
          res.writeHead(200, {
            "Content-Type": "application/json",
            "Cache-Control": "no-cache, private",
            "Transfer-Encoding": "chunked",
          })
          res.flushHeaders()
          if (socket !== null) watchSockets.add(socket)
        })
        const emit = (line: string) => Effect.sync(() => void res.write(line))
        const stream = answer.run(emit)
        const dropped =
          answer.dropAfter === undefined
            ? stream
            : Effect.raceFirst(
                stream,
                Effect.andThen(
                  Effect.sleep(answer.dropAfter),
                  Effect.sync(() => socket?.destroy()),
                ),
              )
        yield* Effect.ensuring(
          dropped,
          Effect.sync(() => {
            if (socket !== null) watchSockets.delete(socket)
            if (!res.destroyed) res.end()
          }),
        )
      })

    const onConnection = (socket: Socket): void => {
      sockets.add(socket)
      runFork(options.connectionOpened)
      socket.on("close", () => {
        sockets.delete(socket)
        watchSockets.delete(socket)
        runFork(options.connectionClosed)
      })
    }

    const server: http.Server =
      options.tls === undefined
        ? http.createServer(onRequest)
        : https.createServer({ cert: options.tls.certificatePem, key: options.tls.privateKeyPem }, onRequest)
    server.on("connection", onConnection)
    // Watches are long-lived; node's default request timeouts would cut them.
    server.requestTimeout = 0
    server.headersTimeout = 60_000
    server.keepAliveTimeout = 30_000

    const start: Effect.Effect<void, ListenError> = Effect.suspend(() =>
      listening
        ? Effect.void
        : Effect.callback<void, ListenError>((resume) => {
            const onError = (cause: unknown) => {
              server.off("listening", onListening)
              resume(Effect.fail(new ListenError({ host: options.host, port, cause })))
            }
            const onListening = () => {
              server.off("error", onError)
              const address = server.address()
              if (address !== null && typeof address === "object") port = address.port
              listening = true
              resume(Effect.void)
            }
            server.once("error", onError)
            server.once("listening", onListening)
            server.listen(port, options.host)
          }),
    )

    const stop: Effect.Effect<void> = Effect.suspend(() =>
      !listening
        ? Effect.void
        : Effect.callback<void>((resume) => {
            listening = false
            server.close(() => resume(Effect.void))
            for (const s of sockets) s.destroy()
          }),
    )

    const dropWatches = Effect.sync(() => {
      for (const s of watchSockets) s.destroy()
    })

    yield* Effect.addFinalizer(() => stop)

    return { port: () => port, listening: () => listening, start, stop, dropWatches } satisfies Listener
  })

const internalError: ApiResponse = {
  _tag: "Json",
  status: 500,
  body: {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: "Internal error occurred: the sandbox API server crashed on this request",
    reason: "InternalError",
    code: 500,
  },
}

const writeJson = (res: http.ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) })
  res.end(text)
}

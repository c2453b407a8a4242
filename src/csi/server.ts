/**
 * The gRPC server on the unix socket kubelet dials. The socket's directory is
 * created if missing; a stale socket left by a dead driver is removed, but one
 * that still answers belongs to a live driver and is an error. Every call runs as
 * a fiber of one FiberSet owned by this layer's scope. On shutdown the server stops
 * accepting, lets in-flight calls finish (bounded), then interrupts what is left
 * and removes the socket.
 */
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as path from "node:path"
import * as grpc from "@grpc/grpc-js"
import { Effect, FiberSet, Layer, Schema } from "effect"
import { Config } from "../config.js"
import { Health } from "../observability/health.js"
import { controllerHandlers } from "./controller.js"
import { identityHandlers } from "./identity.js"
import { nodeHandlers } from "./node.js"
import { loadCsi } from "./proto.js"

export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", {
  socket: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `cannot serve on ${this.socket}: ${this.reason}`
  }
}

/** How long shutdown waits for in-flight calls before cutting them off. */
const drainMillis = 10_000

const answers = (socket: string) =>
  Effect.callback<boolean>((resume) => {
    const client = net.connect(socket)
    client.once("connect", () => {
      client.destroy()
      resume(Effect.succeed(true))
    })
    client.once("error", () => resume(Effect.succeed(false)))
  })

const prepareSocket = (socket: string) =>
  Effect.gen(function* () {
    const fail = (reason: string) => new ServerError({ socket, reason })
    yield* Effect.tryPromise({
      try: () => fs.mkdir(path.dirname(socket), { recursive: true }),
      catch: (cause) => fail(`creating its directory: ${String(cause)}`),
    })
    const stat = yield* Effect.promise(() => fs.lstat(socket).catch(() => undefined))
    if (stat === undefined) return
    if (!stat.isSocket()) return yield* fail("a file that is not a socket is in the way")
    if (yield* answers(socket)) return yield* fail("another process is serving on it")
    yield* Effect.tryPromise({
      try: () => fs.unlink(socket),
      catch: (cause) => fail(`removing stale socket: ${cause}`),
    })
  })

const bind = (server: grpc.Server, socket: string) =>
  Effect.callback<void, ServerError>((resume) => {
    server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (error) => {
      resume(error === null ? Effect.void : Effect.fail(new ServerError({ socket, reason: error.message })))
    })
  })

const shutdown = (server: grpc.Server, socket: string) =>
  Effect.callback<void>((resume) => {
    const force = setTimeout(() => server.forceShutdown(), drainMillis)
    server.tryShutdown(() => {
      clearTimeout(force)
      resume(Effect.void)
    })
  }).pipe(
    Effect.andThen(Effect.promise(() => fs.rm(socket, { force: true }))),
    Effect.andThen(Effect.logInfo("CSI server stopped")),
  )

export const CsiServer = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* Config
    const health = yield* Health
    // Created first, closed last: calls still running after the drain are interrupted.
    const run = yield* FiberSet.makeRuntime<never>()
    const csi = loadCsi()
    // Nothing here serves channelz, so its per-call counters and timestamps would only cost.
    const server = new grpc.Server({ "grpc.enable_channelz": 0 })
    server.addService(csi.Identity.service, yield* identityHandlers(run))
    server.addService(csi.Node.service, yield* nodeHandlers(run))
    server.addService(csi.Controller.service, controllerHandlers(run))
    const socket = config.socketPath
    yield* prepareSocket(socket)
    yield* Effect.acquireRelease(bind(server, socket), () => shutdown(server, socket))
    yield* health.register({
      name: "grpc",
      kind: "liveness",
      // Connecting proves both that the socket file is there and that the server accepts.
      run: Effect.flatMap(answers(socket), (ok) =>
        ok ? Effect.void : Effect.fail(`not accepting on ${socket}`),
      ),
    })
    yield* Effect.logInfo("CSI server listening").pipe(
      Effect.annotateLogs({ socket, driver: config.driverName }),
    )
  }),
)

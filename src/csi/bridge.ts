/**
 * The thin edge between grpc-js callbacks and Effect: each unary call runs its
 * program as a fiber of the server's FiberSet, a cancelled call interrupts that
 * fiber, and the fiber's exit becomes the response or a status through `toStatus`.
 * One log line per call (method, code, duration) is written here: at debug for a call
 * that succeeded (the volume programs log what they did at info, and the liveness
 * sidecar's Probe comes every few seconds), at info or error for one that did not.
 */
import type * as grpc from "@grpc/grpc-js"
import { type Cause, Context, Effect, Exit, type Fiber, LogLevel, References } from "effect"
import { recordCallUnsafe } from "../observability/metrics.js"
import { type CallStatus, toStatus } from "./status.js"

/** What a program may know about the call it serves. */
export interface CallContext {
  readonly method: string
  /** Absolute deadline in epoch ms, when the client set one. */
  readonly deadline: number | undefined
}

export type Runner = <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>

export type Program<Req, Res, E> = (request: Req, context: CallContext) => Effect.Effect<Res, E>

const deadlineOf = (call: grpc.ServerUnaryCall<unknown, unknown>): number | undefined => {
  const deadline = call.getDeadline()
  const ms = deadline instanceof Date ? deadline.getTime() : deadline
  return Number.isFinite(ms) ? ms : undefined
}

/**
 * After the answer: the call's metrics, its log line and `after`, in one step when the
 * call succeeded and debug is off (the usual case: nothing to annotate or write).
 */
const afterAnswer = (
  method: string,
  status: CallStatus,
  millis: number,
  cause: Cause.Cause<unknown> | undefined,
  after: Effect.Effect<void>,
): Effect.Effect<void> =>
  Effect.contextWith((context: Context.Context<never>) => {
    recordCallUnsafe(method, status.name, millis, context)
    const annotated = (line: Effect.Effect<void>) =>
      Effect.annotateLogs(line, { method, code: status.name, durationMs: Math.round(millis) }).pipe(
        Effect.andThen(after),
      )
    if (status.name !== "OK") {
      return annotated(
        status.defect
          ? Effect.logError("gRPC call failed with a defect", cause)
          : Effect.logInfo(`gRPC call: ${status.details}`),
      )
    }
    // A call that succeeded logs at debug.
    const debug = !LogLevel.isGreaterThan(Context.get(context, References.MinimumLogLevel), "Debug")
    return debug ? annotated(Effect.logDebug("gRPC call")) : after
  })

/** Adapts a program to grpc-js's unary handler shape; `after` runs once the call is answered and logged. */
export const unary =
  <Req, Res, E>(
    run: Runner,
    method: string,
    program: Program<Req, Res, E>,
    after: Effect.Effect<void> = Effect.void,
  ) =>
  (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>): void => {
    const started = performance.now()
    const context: CallContext = { method, deadline: deadlineOf(call) }
    let answered = false
    const fiber = run(
      Effect.flatMap(Effect.exit(program(call.request, context)), (exit) => {
        const status = toStatus(exit)
        const millis = performance.now() - started
        // Answer first: the log line and the metrics are not part of the caller's wait.
        answered = true
        if (Exit.isSuccess(exit)) callback(null, exit.value)
        else callback({ code: status.code, details: status.details })
        return afterAnswer(method, status, millis, Exit.isFailure(exit) ? exit.cause : undefined, after)
      }),
    )
    const stopOnCancel = () => fiber.interruptUnsafe()
    call.once("cancelled", stopOnCancel)
    fiber.addObserver((outer) => {
      call.off("cancelled", stopOnCancel)
      if (answered) return
      // Interrupted before answering: the call was cancelled or the server is stopping.
      const status = toStatus(outer)
      callback({ code: status.code, details: status.details })
    })
  }

/**
 * The driver's Prometheus metrics, named `certmanager_csi_*` like csi-lib's. Every
 * metric is defined here, once; call sites use the small helpers below. No label
 * takes values that grow with the number of volumes or pods.
 */
import { type Effect, Metric } from "effect"

const secondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

const grpcCalls = Metric.counter("certmanager_csi_grpc_requests_total", {
  description: "gRPC calls served, by method and status code.",
  incremental: true,
})
const grpcDuration = Metric.histogram("certmanager_csi_grpc_request_duration_seconds", {
  description: "gRPC call latency, by method.",
  boundaries: secondsBuckets,
})

export const callsTotal = (method: string, code: string): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(grpcCalls, { method, code }), 1)

export const callDuration = (method: string, millis: number): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(grpcDuration, { method }), millis / 1000)

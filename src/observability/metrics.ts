/**
 * The driver's Prometheus metrics, named `certmanager_csi_*` like csi-lib's. Every
 * metric is defined here, once; call sites use the small functions below. No label
 * takes values that grow with the number of volumes or pods.
 *
 * A labelled metric is one Metric per label set, made the first time that set is seen
 * and kept: `Metric.withAttributes` per update would wrap the metric and work out its
 * series key (a sorted JSON of the labels) again on every gRPC call and API request.
 */
import { type Context, Effect, Metric } from "effect"

const secondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

/** More label sets than any metric here can have; past it, a set's metric is made per update, not kept. */
const maxSeries = 256

/** The metric of each label set, made once by `make`; the labels are given in one fixed order per family. */
const family = <M>(make: (attributes: Readonly<Record<string, string>>) => M) => {
  const made = new Map<string, M>()
  return (attributes: Readonly<Record<string, string>>): M => {
    const key = Object.values(attributes).join("\u0000")
    const known = made.get(key)
    if (known !== undefined) return known
    const metric = make(attributes)
    if (made.size < maxSeries) made.set(key, metric)
    return metric
  }
}

const counterFamily = (name: string, description: string) =>
  family((attributes) => Metric.counter(name, { description, incremental: true, attributes }))

const histogramFamily = (name: string, description: string) =>
  family((attributes) => Metric.histogram(name, { description, boundaries: secondsBuckets, attributes }))

const grpcCalls = counterFamily(
  "certmanager_csi_grpc_requests_total",
  "gRPC calls served, by method and status code.",
)
const grpcDuration = histogramFamily(
  "certmanager_csi_grpc_request_duration_seconds",
  "gRPC call latency, by method.",
)
const issueRequests = counterFamily(
  "certmanager_csi_issue_requests_total",
  "Issuance attempts (first issuance and renewals), by outcome: issued, denied, failed, timeout, api-error, rejected, unauthorized, error.",
)
const issuanceDuration = histogramFamily(
  "certmanager_csi_issuance_duration_seconds",
  "Time from starting an issuance to writing the certificate, by kind (first, renewal).",
)
const renewals = Metric.counter("certmanager_csi_renewals_total", {
  description: "Certificates renewed in place.",
  incremental: true,
})
const renewalFailures = Metric.counter("certmanager_csi_renewal_failures_total", {
  description: "Renewal attempts that failed (each is retried with backoff).",
  incremental: true,
})
const apiRequests = counterFamily(
  "certmanager_csi_kube_api_requests_total",
  "Kubernetes API requests, by verb and HTTP status code (0 when no response arrived).",
)
const watchRestarts = counterFamily(
  "certmanager_csi_watch_restarts_total",
  "Times a shared watch (CertificateRequests, pods) was re-opened or re-listed, by resource.",
)
const managedVolumes = Metric.gauge("certmanager_csi_managed_volumes", {
  description: "Volumes this driver manages.",
})
const earliestExpiry = Metric.gauge("certmanager_csi_earliest_expiry_seconds", {
  description: "Seconds until the earliest notAfter of any managed certificate (negative when expired).",
})
const nextRenewal = Metric.gauge("certmanager_csi_next_renewal_seconds", {
  description: "Seconds until the earliest scheduled renewal.",
})
const residentMemory = Metric.gauge("process_resident_memory_bytes", {
  description: "Resident memory size in bytes.",
})
const heapUsed = Metric.gauge("nodejs_heap_used_bytes", { description: "V8 heap in use, in bytes." })
const cpuSeconds = Metric.counter("process_cpu_seconds_total", {
  description: "User and system CPU time spent, in seconds.",
})
let cpuReported = 0
const startTime = Metric.gauge("process_start_time_seconds", {
  description: "Start time of the process since the Unix epoch, in seconds.",
})
const processStarted = (Date.now() - performance.now()) / 1000

/**
 * A gRPC call's count and latency, updated in place with the caller's context (where
 * the metrics live): the bridge does this once per call, inside a step it takes anyway.
 */
export const recordCallUnsafe = (
  method: string,
  code: string,
  millis: number,
  context: Context.Context<never>,
): void => {
  grpcCalls({ method, code }).updateUnsafe(1, context)
  grpcDuration({ method }).updateUnsafe(millis / 1000, context)
}

/**
 * `api-error` is an API that was unavailable (retried); `rejected`, a request the API
 * server or a webhook refused as invalid; `unauthorized`, credentials or RBAC refused.
 */
export type IssueOutcome =
  | "issued"
  | "denied"
  | "failed"
  | "timeout"
  | "api-error"
  | "rejected"
  | "unauthorized"
  | "error"

/** The outcome label for an issuance that ended with this error tag. */
export const outcomeOfError = (tag: string): IssueOutcome => {
  switch (tag) {
    case "RequestDenied":
      return "denied"
    case "RequestFailed":
    case "CertificateInvalid":
      return "failed"
    case "IssuancePending":
      return "timeout"
    case "KubeApiError":
      return "api-error"
    case "KubeApiRejected":
      return "rejected"
    case "KubeApiUnauthenticated":
    case "KubeApiForbidden":
      return "unauthorized"
    default:
      return "error"
  }
}

export const issueAttempt = (outcome: IssueOutcome): Effect.Effect<void> =>
  Metric.update(issueRequests({ outcome }), 1)

export const issuanceTook = (kind: "first" | "renewal", millis: number): Effect.Effect<void> =>
  Metric.update(issuanceDuration({ kind }), millis / 1000)

export const renewed: Effect.Effect<void> = Metric.update(renewals, 1)
export const renewalFailed: Effect.Effect<void> = Metric.update(renewalFailures, 1)

export const apiRequest = (verb: string, status: number): Effect.Effect<void> =>
  Metric.update(apiRequests({ verb, code: String(status) }), 1)

export const watchRestarted = (resource: string): Effect.Effect<void> =>
  Metric.update(watchRestarts({ resource }), 1)

export interface VolumeSummary {
  readonly volumes: number
  /** Epoch ms, or undefined when no certificate is issued. */
  readonly earliestNotAfter: number | undefined
  readonly earliestRenewal: number | undefined
}

/** Refreshes the gauges that are read off the driver's state at scrape time. */
export const refreshGauges = (summary: VolumeSummary, now: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    yield* Metric.update(managedVolumes, summary.volumes)
    if (summary.earliestNotAfter !== undefined) {
      yield* Metric.update(earliestExpiry, (summary.earliestNotAfter - now) / 1000)
    }
    if (summary.earliestRenewal !== undefined) {
      yield* Metric.update(nextRenewal, (summary.earliestRenewal - now) / 1000)
    }
    const memory = process.memoryUsage()
    const cpu = process.cpuUsage()
    yield* Metric.update(residentMemory, memory.rss)
    yield* Metric.update(heapUsed, memory.heapUsed)
    // A counter takes increments: add what was spent since the last scrape.
    const cpuNow = (cpu.user + cpu.system) / 1e6
    yield* Metric.update(cpuSeconds, cpuNow - cpuReported)
    cpuReported = cpuNow
    yield* Metric.update(startTime, processStarted)
  })

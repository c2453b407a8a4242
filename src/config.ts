/**
 * The driver's flags: upstream's names and defaults (COMPATIBILITY.md), parsed by
 * effect/cli and validated with Schema, then held by one `Config` service that every
 * other layer reads. `--endpoint` and `--data-root` resolve like csi-lib does, so the
 * Helm chart's `unix://plugin/csi.sock` and `--data-root=csi-data-dir` keep working.
 */
import * as path from "node:path"
import { Context, type Duration, Layer, type LogLevel, Option, Result, Schema } from "effect"
import { Flag } from "effect/cli"
import { parseGoDuration, parseGoNanos } from "./attributes/duration.js"
import type { GateBackoff } from "./gates/backoff.js"
import { parseGate, type ReadinessGate } from "./gates/gates.js"

export type LogFormat = "json" | "text"

export interface DriverConfig {
  readonly nodeId: string
  /** Filesystem path of the unix socket kubelet dials. */
  readonly socketPath: string
  readonly driverName: string
  readonly dataRoot: string
  readonly useTokenRequest: boolean
  readonly continueOnNotReady: boolean
  /** `host:port` for /metrics, /healthz, /readyz; undefined when `0` (off). */
  readonly metricsAddress: { readonly host: string; readonly port: number } | undefined
  readonly kubeApiQps: number
  readonly kubeApiBurst: number
  readonly kubeconfig: string | undefined
  readonly logLevel: LogLevel.LogLevel
  readonly logFormat: LogFormat
  /** `--pod-readiness-gate`s: every one must pass for a volume's pod before its certificate is requested. */
  readonly readinessGates?: ReadonlyArray<ReadinessGate>
  /** `--gate-backoff-*`: how often a gated volume looks again when no pod change woke it. */
  readonly gateBackoff?: GateBackoff
}

export class Config extends Context.Service<Config, DriverConfig>()("csi/Config") {
  static readonly layer = (config: DriverConfig) => Layer.succeed(Config, config)
}

/** `unix:///abs/path` or csi-lib's `unix://rel/path` (host + path, relative to the cwd). */
export const socketPathOf = (endpoint: string): Result.Result<string, string> => {
  const match = /^unix:\/\/(.*)$/.exec(endpoint)
  const rest = match?.[1]
  if (rest === undefined || rest === "" || rest === "/") {
    return Result.fail(`--endpoint must be unix:///path/to/csi.sock, got "${endpoint}"`)
  }
  return Result.succeed(path.resolve(rest))
}

/** klog verbosity (upstream's `--log-level=1`) or a level name. */
export const logLevelOf = (value: string): Result.Result<LogLevel.LogLevel, string> => {
  const names: Record<string, LogLevel.LogLevel> = {
    error: "Error",
    warn: "Warn",
    warning: "Warn",
    info: "Info",
    debug: "Debug",
    trace: "Trace",
  }
  const named = names[value.toLowerCase()]
  if (named !== undefined) return Result.succeed(named)
  if (/^\d+$/.test(value)) {
    const v = Number(value)
    return Result.succeed(v <= 1 ? "Info" : v <= 3 ? "Debug" : "Trace")
  }
  return Result.fail(`--log-level must be 0-5 or one of error, warn, info, debug, trace; got "${value}"`)
}

/** `0` turns the server off; otherwise `[host]:port`. */
export const metricsAddressOf = (value: string): Result.Result<DriverConfig["metricsAddress"], string> => {
  if (value === "0" || value === "") return Result.succeed(undefined)
  const match = /^(.*):(\d{1,5})$/.exec(value)
  const port = Number(match?.[2])
  if (match === null || port > 65535) {
    return Result.fail(`--metrics-bind-address must be [host]:port or 0, got "${value}"`)
  }
  const host = (match[1] ?? "").replace(/^\[(.*)\]$/, "$1")
  return Result.succeed({ host: host === "" ? "0.0.0.0" : host, port })
}

/** A positive Go duration for `flag`. */
const durationOf =
  (flag: string, zero = "") =>
  (value: string): Result.Result<Duration.Duration, string> =>
    Result.mapError(
      parseGoDuration(value),
      () =>
        `${flag} must be a positive Go duration such as 500ms, 1s or 1m30s${zero}; got "${value.slice(0, 100)}"`,
    )

/** A Go duration for `flag` where 0 means none. */
const optionalDurationOf =
  (flag: string) =>
  (value: string): Result.Result<Duration.Duration | undefined, string> =>
    Result.getOrElse(parseGoNanos(value), () => -1n) === 0n
      ? Result.succeed(undefined)
      : durationOf(flag, " (0 for none)")(value)

/** A number for `flag` that `ok` accepts; `what` says which. */
const numberOf =
  (flag: string, ok: (n: number) => boolean, what: string) =>
  (value: string): Result.Result<number, string> => {
    const n = Number(value)
    return value.trim() !== "" && Number.isFinite(n) && ok(n)
      ? Result.succeed(n)
      : Result.fail(`${flag} must be ${what}; got "${value.slice(0, 100)}"`)
  }

const fromResult = <A>(parse: (value: string) => Result.Result<A, string>) =>
  Flag.filterMap(
    (value: string) => Result.getSuccess(parse(value)),
    (value) => Option.getOrElse(Result.getFailure(parse(value)), () => `invalid value "${value}"`),
  )

const positive = Schema.Number.pipe(Schema.check(Schema.isGreaterThan(0)))
const positiveInt = Schema.Int.pipe(Schema.check(Schema.isGreaterThan(0)))

/** The flags, shaped as effect/cli wants them; `toDriverConfig` turns them into a DriverConfig. */
export const driverFlags = {
  nodeId: Flag.String("node-id").pipe(
    Flag.withDescription("Name of the node this driver instance runs on (required)."),
    Flag.withSchema(Schema.NonEmptyString),
  ),
  endpoint: Flag.String("endpoint").pipe(
    Flag.withDescription("CSI endpoint kubelet dials, unix:///path/to/csi.sock (required)."),
    fromResult(socketPathOf),
  ),
  driverName: Flag.String("driver-name").pipe(
    Flag.withDescription("Name of this CSI driver, shared with kubelet."),
    Flag.withDefault("csi.cert-manager.io"),
  ),
  dataRoot: Flag.String("data-root").pipe(
    Flag.withDescription("Directory for volume data; a tmpfs is mounted there unless it already is one."),
    Flag.withDefault("/csi-data-dir"),
    Flag.map((dir) => path.resolve(dir)),
  ),
  useTokenRequest: Flag.Boolean("use-token-request").pipe(
    Flag.withDescription(
      "Create CertificateRequests as the pod's service account (needs CSIDriver tokenRequests).",
    ),
    Flag.withDefault(false),
  ),
  continueOnNotReady: Flag.Boolean("continue-on-not-ready").pipe(
    Flag.withDescription("Mount at once and issue in the background instead of waiting for the certificate."),
    Flag.withDefault(false),
  ),
  metricsBindAddress: Flag.String("metrics-bind-address").pipe(
    Flag.withDescription("host:port serving /metrics, /healthz and /readyz; 0 turns it off."),
    Flag.withDefault("0"),
    fromResult(metricsAddressOf),
  ),
  kubeApiQps: Flag.Finite("kube-api-qps").pipe(
    Flag.withDescription("Client-side rate limit for Kubernetes API requests per second."),
    Flag.withDefault(50),
    Flag.withSchema(positive),
  ),
  kubeApiBurst: Flag.Int("kube-api-burst").pipe(
    Flag.withDescription("Client-side burst for Kubernetes API requests."),
    Flag.withDefault(100),
    Flag.withSchema(positiveInt),
  ),
  kubeconfig: Flag.String("kubeconfig").pipe(
    Flag.withDescription("Path to a kubeconfig; else $KUBECONFIG, else in-cluster."),
    Flag.optional,
  ),
  logLevel: Flag.String("log-level").pipe(
    Flag.withAlias("v"),
    Flag.withDescription("Log verbosity: 0-5 like klog, or error|warn|info|debug|trace."),
    Flag.withDefault("1"),
    fromResult(logLevelOf),
  ),
  logFormat: Flag.Literals("log-format", ["json", "text"]).pipe(
    Flag.withDescription("Log line format."),
    Flag.withDefault("json"),
  ),
  podReadinessGate: Flag.String("pod-readiness-gate").pipe(
    Flag.withDescription(
      "Request a volume's certificate only once its pod passes this gate (repeatable, all must pass): pod-ip:any|ipv4|ipv6, pod-condition:<Type>[=<Status>], pod-annotation:<key>. Needs --continue-on-not-ready.",
    ),
    fromResult(parseGate),
    Flag.atLeast(0),
  ),
  gateBackoffDuration: Flag.String("gate-backoff-duration").pipe(
    Flag.withDescription("First wait before a volume blocked by its readiness gates looks again."),
    Flag.withDefault("1s"),
    fromResult(durationOf("--gate-backoff-duration")),
  ),
  gateBackoffFactor: Flag.String("gate-backoff-factor").pipe(
    Flag.withDescription("Each further wait is the previous one times this."),
    Flag.withDefault("2.0"),
    // Below 1 the waits would shrink toward a busy loop: refused (0 keeps them constant, as in wait.Backoff).
    fromResult(
      numberOf(
        "--gate-backoff-factor",
        (n) => n === 0 || n >= 1,
        "0 or a number of at least 1 (0 or 1: no growth)",
      ),
    ),
  ),
  gateBackoffJitter: Flag.String("gate-backoff-jitter").pipe(
    Flag.withDescription("Each wait grows by up to this fraction of itself, at random."),
    Flag.withDefault("0.5"),
    fromResult(numberOf("--gate-backoff-jitter", (n) => n >= 0, "a number of at least 0")),
  ),
  gateBackoffCap: Flag.String("gate-backoff-cap").pipe(
    Flag.withDescription("Longest wait before the jitter; 0 for no cap."),
    Flag.withDefault("10s"),
    fromResult(optionalDurationOf("--gate-backoff-cap")),
  ),
} as const

export interface ParsedFlags {
  readonly nodeId: string
  readonly endpoint: string
  readonly driverName: string
  readonly dataRoot: string
  readonly useTokenRequest: boolean
  readonly continueOnNotReady: boolean
  readonly metricsBindAddress: DriverConfig["metricsAddress"]
  readonly kubeApiQps: number
  readonly kubeApiBurst: number
  readonly kubeconfig: Option.Option<string>
  readonly logLevel: LogLevel.LogLevel
  readonly logFormat: LogFormat
  readonly podReadinessGate: ReadonlyArray<ReadinessGate>
  readonly gateBackoffDuration: Duration.Duration
  readonly gateBackoffFactor: number
  readonly gateBackoffJitter: number
  readonly gateBackoffCap: Duration.Duration | undefined
}

/**
 * Why the flags cannot work together, if they cannot: gates hold back a volume's
 * certificate after the mount, which only --continue-on-not-ready allows (upstream
 * requires the same).
 */
export const conflictOf = (
  flags: Pick<ParsedFlags, "podReadinessGate" | "continueOnNotReady">,
): Result.Result<void, string> =>
  flags.podReadinessGate.length > 0 && !flags.continueOnNotReady
    ? Result.fail(
        "--pod-readiness-gate needs --continue-on-not-ready: a gated volume is mounted at once and gets its certificate when the gates pass",
      )
    : Result.void

export const toDriverConfig = (flags: ParsedFlags): DriverConfig => ({
  nodeId: flags.nodeId,
  socketPath: flags.endpoint,
  driverName: flags.driverName,
  dataRoot: flags.dataRoot,
  useTokenRequest: flags.useTokenRequest,
  continueOnNotReady: flags.continueOnNotReady,
  metricsAddress: flags.metricsBindAddress,
  kubeApiQps: flags.kubeApiQps,
  kubeApiBurst: flags.kubeApiBurst,
  kubeconfig: Option.getOrUndefined(flags.kubeconfig),
  logLevel: flags.logLevel,
  logFormat: flags.logFormat,
  readinessGates: flags.podReadinessGate,
  gateBackoff: {
    duration: flags.gateBackoffDuration,
    factor: flags.gateBackoffFactor,
    jitter: flags.gateBackoffJitter,
    cap: flags.gateBackoffCap,
  },
})

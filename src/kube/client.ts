/**
 * Access to the Kubernetes API through @kubernetes/client-node: loads the kubeconfig
 * (`--kubeconfig`, else $KUBECONFIG / ~/.kube/config, else in-cluster), applies the
 * client-side rate limit to every request, turns failures into errors by what their
 * status means (`KubeApiFailure`), and keeps one client per pod service-account
 * token for `--use-token-request`. Requests go with client-node's identity (its
 * authenticators) straight through the connection pool (`ApiRequests`), not through its
 * generated API: that API's serializer, middleware and fetch streams cost more CPU than
 * the rest of a call, for bodies we build ourselves and answers we read as plain JSON, and
 * its ~700 model classes, loaded with it, took ~3 MiB of the driver's heap for good.
 */
import { createHash } from "node:crypto"
import { STATUS_CODES } from "node:http"
import type * as https from "node:https"
import { ApiException, HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node"
import { Context, Effect, Layer, Predicate, Redacted, Schema } from "effect"
import { Agent } from "undici"
import { Config } from "../config.js"
import { apiRequest } from "../observability/metrics.js"
import { type ApiMethod, authorizedRequest, clusterUrl } from "./authorized-request.js"
import { apiFailureOf, type KubeApiFailure } from "./errors.js"
import { makeRateLimiter } from "./rate-limit.js"
import { WatchRefused } from "./watch-request.js"

export class KubeConfigError extends Schema.TaggedError<KubeConfigError>()("KubeConfigError", {
  reason: Schema.String,
}) {
  override get message(): string {
    return `cannot load a kubeconfig: ${this.reason}`
  }
}

/**
 * Plain requests with the kubeconfig's identity, over the same connections as the generated
 * API's. Both reject with client-node's ApiException (status code and body) for an error
 * status, and with the transport's error when no answer came, as the generated API does.
 */
export interface ApiRequests {
  /**
   * Sends `body` as JSON to `path` (below the cluster's server URL, query included);
   * resolves once the answer is a success, whose body is not read.
   */
  readonly send: (method: "POST" | "DELETE", path: string, body?: unknown) => Promise<void>
  /**
   * Like `send`, but resolves with the successful answer's body, parsed as JSON. `body` goes
   * as `contentType` (JSON, unless a patch says which kind it is).
   */
  readonly json: (
    method: "GET" | "POST" | "PATCH",
    path: string,
    body?: unknown,
    contentType?: string,
  ) => Promise<unknown>
}

const StatusBody = Schema.fromJsonString(
  Schema.Struct({ reason: Schema.optional(Schema.String), message: Schema.optional(Schema.String) }),
)
const decodeStatus = Schema.decodeUnknownOption(StatusBody)

/**
 * What went wrong, without request headers (which hold the bearer token), as the
 * error its status means (`apiFailureOf`). `resource` names what the call was about.
 */
export const apiErrorOf = (verb: string, resource: string, cause: unknown): KubeApiFailure => {
  if (cause instanceof ApiException) {
    const code = Predicate.isNumber(cause.code) ? cause.code : 0
    // client-node leaves the body out for statuses its spec does not describe (401, 403).
    const body = Predicate.isString(cause.body)
      ? cause.body
      : cause.body == null
        ? ""
        : JSON.stringify(cause.body)
    const status = decodeStatus(body)
    const reason =
      (status._tag === "Some" ? status.value.reason : undefined) || STATUS_CODES[code] || `${code}`
    const detail = status._tag === "Some" ? (status.value.message ?? "") : body.slice(0, 200)
    return apiFailureOf({ verb, resource, status: code, reason, detail })
  }
  if (cause instanceof WatchRefused)
    return apiFailureOf({ verb, resource, status: cause.statusCode, reason: cause.message, detail: "" })
  const message = cause instanceof Error ? `${cause.message}${causeCode(cause)}` : String(cause)
  return apiFailureOf({ verb, resource, status: 0, reason: "Unreachable", detail: message })
}

const causeCode = (error: Error): string => {
  const inner = error.cause
  return inner instanceof Error ? ` (${(inner as NodeJS.ErrnoException).code ?? inner.message})` : ""
}

type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>

/**
 * A watch's stream goes silent for minutes on a quiet node. client-node's Watch aborts
 * one that stays silent for 30 s itself; undici's own body timeout on top of that keeps
 * its timer wheel ticking every 0.5 s for as long as the stream is open, the driver's
 * only wake-ups when idle. Watches go without it.
 */
const withoutBodyTimeout = (dispatcher: Dispatcher): Dispatcher =>
  dispatcher.compose((dispatch) => (options, handler) => dispatch({ ...options, bodyTimeout: 0 }, handler))

const isWatch = (url: string): boolean => new URL(url).searchParams.get("watch") === "true"

/**
 * Connections to the API server, per identity. HTTP/1.1 carries one request at a time
 * on a connection, and past a few, more only add TLS handshakes on both ends: a 110-pod
 * burst opened ~100. Requests beyond these wait their turn in the pool; the watch holds one.
 */
export const maxConnections = 8

/**
 * How long a request may wait for the API server's answer (headers, then body): the API
 * server's own default request timeout. undici's default, 5 minutes, would let one hung
 * create hold an unpublish (which waits for a create in flight) past kubelet's deadline.
 */
export const requestTimeoutMs = 60_000

interface Pool {
  readonly requests: Dispatcher
  readonly watches: Dispatcher
}

/** client-node's own per-request step: the identity's Authorization header (token, token file, exec plugin, OIDC). */
interface AuthorizationHeader {
  readonly applyAuthorizationHeader?: (options: https.RequestOptions) => Promise<void>
}

/**
 * client-node 2.0 builds a new connection pool for every request (a TLS handshake
 * each, and sockets left open); this config builds one, of at most `maxConnections`,
 * and reuses it. Per request, client-node also reads the CA, certificate and key again
 * (files, or base64 to decode) only to build that pool: here they are read once, with
 * the pool, and a request gets only its headers. Those still come from client-node's
 * authenticators on every request, so an in-cluster token file is read again as it
 * rotates (client-node's FileAuth, once a minute) and an exec plugin's token renews.
 */
export class PooledKubeConfig extends KubeConfig {
  private pool: Promise<Pool | undefined> | undefined

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const authorization = (this as unknown as AuthorizationHeader).applyAuthorizationHeader
    // Another client-node without that step: its own whole method, and our pool on top.
    if (authorization === undefined) return this.withPool(context, super.applySecurityAuthentication(context))
    const options: https.RequestOptions = { headers: {} }
    const user = this.getCurrentUser()
    // What client-node's applyHTTPSOptions adds besides TLS settings, before the authenticators run.
    if (user?.impersonateUser != null) options.headers = { "Impersonate-User": user.impersonateUser }
    await authorization.call(this, options)
    if (user?.username) {
      const basic = Buffer.from(`${user.username}:${user.password}`).toString("base64")
      context.setHeaderParam("Authorization", `Basic ${basic}`)
    }
    for (const [key, value] of Object.entries(options.headers ?? {})) context.setHeaderParam(key, `${value}`)
    return this.withPool(context, Promise.resolve())
  }

  /** Once `applied` has: the pool's dispatcher on the request (none: the global one, as client-node leaves it). */
  private async withPool(context: RequestContext, applied: Promise<void>): Promise<void> {
    await applied
    const pool = await this.poolOnce()
    if (pool !== undefined) context.setDispatcher(isWatch(context.getUrl()) ? pool.watches : pool.requests)
  }

  /** The pool, made by the first request; a failure to make it (a CA file not there yet) is retried by the next. */
  private poolOnce(): Promise<Pool | undefined> {
    this.pool ??= this.makePool().catch((cause: unknown) => {
      this.pool = undefined
      return Promise.reject(cause)
    })
    return this.pool
  }

  /** Our own Agent with client-node's TLS settings; through a proxy, client-node's own dispatcher. */
  private async makePool(): Promise<Pool | undefined> {
    // client-node's dispatcher for this identity, as it would make one per request: undefined
    // when its TLS options are all default (the global dispatcher then).
    const probe = new RequestContext(this.getCurrentCluster()?.server ?? "http://localhost", HttpMethod.GET)
    await super.applySecurityAuthentication(probe)
    const created = probe.getDispatcher()
    if (created === undefined) return undefined
    const options: https.AgentOptions = {}
    await this.applyToHTTPSOptions(options)
    const planned = this.createDispatcherOptions(this.getCurrentCluster(), options)
    const requests =
      planned.type === "agent"
        ? new Agent({
            // client-node's connect options are undici's, typed without exactOptionalPropertyTypes.
            connect: planned.connect as NonNullable<Agent.Options["connect"]>,
            connections: maxConnections,
            headersTimeout: requestTimeoutMs,
            bodyTimeout: requestTimeoutMs,
          })
        : created
    // The probe's own Agent opened no connection; it goes now, unless it is the pool itself.
    if (requests !== created) await created.close()
    return { requests, watches: withoutBodyTimeout(requests) }
  }
}

/**
 * The most of a successful answer read: a node's lists (its pods, its CertificateRequests)
 * are a few MiB at most; an answer past this is refused rather than held.
 */
export const maxAnswerBytes = 128 * 2 ** 20

/** The most of an error's body kept: its Status message is near the start, and messages are cut far shorter. */
export const maxErrorBodyBytes = 64 * 2 ** 10

/** A request's path without its query, for messages. */
const pathOf = (path: string): string => path.split("?")[0] ?? path

interface Limits {
  readonly timeoutMs: number
  readonly maxAnswerBytes: number
}

/**
 * One request on undici's dispatch: its `request` would make a Node Readable of each
 * answer. A success's body is collected only when `read`; an error's always, for its Status.
 */
const dispatchRequest = async (
  kc: KubeConfig,
  limits: Limits,
  method: ApiMethod,
  path: string,
  body: unknown,
  contentType: string,
  read: boolean,
): Promise<string> => {
  // What the generated API does per call: the identity's headers, and its pool (PooledKubeConfig's).
  const { dispatcher, ...target } = await authorizedRequest(kc, method, clusterUrl(kc, path))
  return new Promise<string>((resolve, reject) => {
    let status = 0
    let headers: Record<string, string> = {}
    const chunks: Array<Buffer> = []
    let bytes = 0
    dispatcher.dispatch(
      {
        ...target,
        method,
        headers: {
          ...target.headers,
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": contentType }),
        },
        body: body === undefined ? null : JSON.stringify(body),
        headersTimeout: limits.timeoutMs,
        bodyTimeout: limits.timeoutMs,
      },
      {
        onRequestStart: () => {},
        onResponseStart: (_request, statusCode, responseHeaders) => {
          if (statusCode < 200) return
          status = statusCode
          if (statusCode < 400) return
          headers = {}
          for (const [name, value] of Object.entries(responseHeaders)) {
            if (value !== undefined) headers[name] = String(value)
          }
        },
        onResponseData: (controller, chunk) => {
          if (status >= 400) {
            if (bytes < maxErrorBodyBytes) chunks.push(chunk.subarray(0, maxErrorBodyBytes - bytes))
            bytes += chunk.length
          } else if (read) {
            bytes += chunk.length
            if (bytes > limits.maxAnswerBytes) {
              chunks.length = 0
              controller.abort(
                new Error(
                  `the API server's answer to ${method} ${pathOf(path)} exceeds ${limits.maxAnswerBytes} bytes`,
                ),
              )
              return
            }
            chunks.push(chunk)
          }
        },
        onResponseEnd: () => {
          if (status < 400) return resolve(read ? textOf(chunks) : "")
          // The thin adapter's one error: the generated API's own, which apiErrorOf reads.
          reject(new ApiException(status, `HTTP-Code: ${status}`, textOf(chunks), headers))
        },
        // A success whose body then broke is still a success when its body is not wanted, as undici's dump() has it.
        onResponseError: (_request, error) =>
          status > 0 && status < 400 && !read ? resolve("") : reject(error),
      },
    )
  })
}

const makeApiRequests = (kc: KubeConfig, limits: Limits): ApiRequests => ({
  send: async (method, path, body) => {
    await dispatchRequest(kc, limits, method, path, body, "application/json", false)
  },
  json: async (method, path, body, contentType = "application/json") => {
    const text = await dispatchRequest(kc, limits, method, path, body, contentType, true)
    try {
      return JSON.parse(text) as unknown
    } catch {
      // Not JSON.parse's message: it quotes the body. An error with no status, as from the generated API.
      throw new Error(`the API server answered ${method} ${pathOf(path)} with a body that is not JSON`)
    }
  },
})

/** A body as undici's text() reads it: UTF-8, without a byte-order mark. */
const textOf = (chunks: ReadonlyArray<Buffer>): string => {
  const bytes = Buffer.concat(chunks)
  const bom = bytes.length > 2 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf
  return bytes.toString("utf8", bom ? 3 : 0)
}

const loadKubeConfig = (path: string | undefined) =>
  Effect.try({
    try: () => {
      const kc = new PooledKubeConfig()
      if (path === undefined) kc.loadFromDefault()
      else kc.loadFromFile(path)
      if (kc.getCurrentCluster() === null) throw new Error("it names no current cluster")
      return kc
    },
    catch: (cause) => new KubeConfigError({ reason: cause instanceof Error ? cause.message : String(cause) }),
  })

const tokenCacheLimit = 1024

export class KubeClient extends Context.Service<
  KubeClient,
  {
    readonly kubeConfig: KubeConfig
    /** Requests as the driver's own identity. */
    readonly driver: ApiRequests
    /** Requests as a pod's service account; one client per token, cached. */
    readonly forToken: (token: Redacted.Redacted<string>) => ApiRequests
    /** Runs one rate-limited API call; `resource` names what it is about, for messages. */
    readonly call: <A>(
      verb: string,
      resource: string,
      f: () => Promise<A>,
    ) => Effect.Effect<A, KubeApiFailure>
  }
>()("csi/KubeClient") {
  /** `requestTimeoutMs` and `maxAnswerBytes` bound the plain requests (tests lower them; the pool's own timeout stays). */
  static readonly fromKubeConfig = (
    kubeConfig: KubeConfig,
    options: { readonly requestTimeoutMs?: number; readonly maxAnswerBytes?: number } = {},
  ) =>
    Layer.effect(
      KubeClient,
      Effect.gen(function* () {
        const config = yield* Config
        const limiter = yield* makeRateLimiter(config.kubeApiQps, config.kubeApiBurst)
        const limits: Limits = {
          timeoutMs: options.requestTimeoutMs ?? requestTimeoutMs,
          maxAnswerBytes: options.maxAnswerBytes ?? maxAnswerBytes,
        }
        const byToken = new Map<string, ApiRequests>()
        const forToken = (token: Redacted.Redacted<string>): ApiRequests => {
          const key = createHash("sha256").update(Redacted.value(token)).digest("hex")
          const cached = byToken.get(key)
          if (cached !== undefined) return cached
          const cluster = kubeConfig.getCurrentCluster()
          // Its own pool, not the driver's: with client-certificate auth the driver's
          // connections carry the driver's identity.
          const kc = new PooledKubeConfig()
          if (cluster !== null)
            kc.loadFromClusterAndUser(cluster, { name: "pod", token: Redacted.value(token) })
          const requests = makeApiRequests(kc, limits)
          // Tokens rotate with every republish: keep the newest few, drop the oldest.
          if (byToken.size >= tokenCacheLimit) byToken.delete(byToken.keys().next().value ?? "")
          byToken.set(key, requests)
          return requests
        }
        const call = <A>(verb: string, resource: string, f: () => Promise<A>) =>
          limiter.take.pipe(
            Effect.andThen(
              Effect.tryPromise({ try: f, catch: (cause) => apiErrorOf(verb, resource, cause) }),
            ),
            Effect.tap(() => apiRequest(verb, verb === "create" ? 201 : 200)),
            Effect.tapError((error) => apiRequest(verb, error.status)),
          )
        return KubeClient.of({ kubeConfig, driver: makeApiRequests(kubeConfig, limits), forToken, call })
      }),
    )

  static readonly layer = Layer.unwrap(
    Effect.gen(function* () {
      const config = yield* Config
      const kubeConfig = yield* loadKubeConfig(config.kubeconfig)
      return KubeClient.fromKubeConfig(kubeConfig)
    }),
  )
}

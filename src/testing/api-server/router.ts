/**
 * From an HTTP request to an answer: health and version (open to all), bearer-token
 * authentication (401 Status otherwise), discovery, then the resource paths
 * (`/api/v1[/namespaces/<ns>]/<resource>[/<name>[/status]]`, the same under
 * `/apis/cert-manager.io/v1`, and the legacy `/watch/` prefix) dispatched to the REST
 * verbs or a watch. Faults are injected and requests counted here.
 */
import { Clock, Duration, Effect, Option, Random, Result } from "effect"
import type { Faults, ServerControls } from "./controls.js"
import type { KubeObject } from "./objects.js"
import { openApiGroupVersion, openApiRoot } from "./openapi.js"
import { CertificateRequests, discovery, Events, Namespaces, Pods, type ResourceDef } from "./resources.js"
import * as Rest from "./rest.js"
import {
  type ApiError,
  forbidden,
  methodNotAllowed,
  pathNotFound,
  serviceUnavailable,
  unauthorized,
} from "./status.js"
import type { ObjectStore } from "./store.js"
import { toTable, wantsTable } from "./table.js"
import type { Users } from "./users.js"
import { runStaticWatch, runWatch, watchParams } from "./watch.js"

export interface ApiRequest {
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly body: string
}

export type ApiResponse =
  | { readonly _tag: "Json"; readonly status: number; readonly body: unknown }
  | { readonly _tag: "Text"; readonly status: number; readonly text: string }
  | {
      readonly _tag: "Watch"
      /** Streams the watch, one line per `emit`, until it ends or is interrupted. */
      readonly run: (emit: (line: string) => Effect.Effect<void>) => Effect.Effect<void>
      /** Cut the connection after this long (fault injection). */
      readonly dropAfter: Duration.Duration | undefined
    }

export interface RouterDeps {
  readonly store: ObjectStore["Service"]
  readonly users: Users["Service"]
  readonly controls: ServerControls["Service"]
  readonly bookmarkInterval: Duration.Duration
  /** `host:port` clients reach us at, for `/api`'s serverAddressByClientCIDRs. */
  readonly serverAddress: () => string
  /** Creation time reported for every namespace. */
  readonly startedAt: string
}

const json = (status: number, body: unknown): ApiResponse => ({ _tag: "Json", status, body })
const fromError = (e: ApiError): ApiResponse => json(e.status.code, e.status)

interface ResourceRoute {
  readonly def: ResourceDef
  readonly namespace: string | undefined
  readonly name: string | undefined
  readonly subresource: "status" | undefined
  readonly watchPath: boolean
}

const coreResources: Record<string, ResourceDef> = { pods: Pods, events: Events, namespaces: Namespaces }
const certManagerResources: Record<string, ResourceDef> = { certificaterequests: CertificateRequests }

/** Splits a resource path; undefined when it names nothing we serve. */
const resolve = (segments: ReadonlyArray<string>): ResourceRoute | undefined => {
  let rest: ReadonlyArray<string>
  let table: Record<string, ResourceDef>
  if (segments[0] === "api" && segments[1] === "v1") {
    rest = segments.slice(2)
    table = coreResources
  } else if (segments[0] === "apis" && segments[1] === "cert-manager.io" && segments[2] === "v1") {
    rest = segments.slice(3)
    table = certManagerResources
  } else {
    return undefined
  }
  const watchPath = rest[0] === "watch"
  if (watchPath) rest = rest.slice(1)
  let namespace: string | undefined
  // /namespaces/<ns>/<resource>… is a namespaced resource; /namespaces[/<name>] is the namespace itself
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1]
    rest = rest.slice(2)
  }
  const def = table[rest[0] ?? ""]
  if (def === undefined || rest.length > 3) return undefined
  if (namespace !== undefined && !def.namespaced) return undefined
  const sub = rest[2]
  if (sub !== undefined && !(sub === "status" && def.statusSubresource)) return undefined
  return { def, namespace, name: rest[1], subresource: sub === undefined ? undefined : "status", watchPath }
}

const header = (req: ApiRequest, name: string): string | undefined => {
  const v = req.headers[name]
  return typeof v === "string" ? v : v?.[0]
}

const verbOf = (method: string, route: ResourceRoute, query: URLSearchParams): string | undefined => {
  const watching = route.watchPath || query.get("watch") === "true" || query.get("watch") === "1"
  switch (method) {
    case "GET":
      return watching ? "watch" : route.name === undefined ? "list" : "get"
    case "POST":
      return route.name === undefined && route.subresource === undefined ? "create" : undefined
    case "PUT":
      return route.name === undefined ? undefined : "update"
    case "PATCH":
      return route.name === undefined ? undefined : "patch"
    case "DELETE":
      return route.name === undefined ? "deletecollection" : "delete"
    default:
      return undefined
  }
}

const writeVerbs = new Set(["create", "update", "patch", "delete"])

export const makeRouter = (deps: RouterDeps) => {
  const { store, users, controls } = deps

  const authenticate = (req: ApiRequest) => {
    const auth = header(req, "authorization") ?? ""
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth)
    return m === null ? Effect.succeed(Option.none()) : users.authenticate(m[1]!)
  }

  const discoveryAnswer = (path: string): ApiResponse | undefined => {
    switch (path) {
      case "/api":
        return json(200, discovery.api(deps.serverAddress()))
      case "/api/v1":
        return json(200, discovery.coreV1)
      case "/apis":
        return json(200, discovery.groups())
      case "/apis/cert-manager.io":
        return json(200, discovery.certManagerGroup)
      case "/apis/cert-manager.io/v1":
        return json(200, discovery.certManagerV1)
      case "/openapi/v3":
        return json(200, openApiRoot())
      default: {
        const doc = path.startsWith("/openapi/v3/")
          ? openApiGroupVersion(path.slice("/openapi/v3/".length))
          : undefined
        return doc === undefined ? undefined : json(200, doc)
      }
    }
  }

  const resourceRequest = Effect.fnUntraced(function* (
    req: ApiRequest,
    route: ResourceRoute,
    verb: string,
    user: Rest.RestRequest["user"],
  ): Effect.fn.Return<ApiResponse, ApiError> {
    const { def } = route
    const restReq: Rest.RestRequest = {
      def,
      namespace: route.namespace,
      name: route.name,
      subresource: route.subresource,
      user,
      query: req.query,
      body: req.body,
      contentType: header(req, "content-type"),
    }
    const table = wantsTable(header(req, "accept"))
    const nowMs = yield* Clock.currentTimeMillis
    const answer = (r: Rest.RestResponse): ApiResponse =>
      json(r.status, table ? toTable(def, r.body, nowMs) : r.body)
    const render = (o: KubeObject) => Effect.map(Clock.currentTimeMillis, (ms) => toTable(def, o, ms))
    // a watch stream, counted while open, cut early when the drop fault is set
    const watching = (stream: (emit: (line: string) => Effect.Effect<void>) => Effect.Effect<void>) =>
      Effect.map(
        controls.faults,
        (faults: Faults): ApiResponse => ({
          _tag: "Watch",
          run: (emit) =>
            Effect.acquireUseRelease(
              controls.watchOpened,
              () => stream(emit),
              () => controls.watchClosed,
            ),
          dropAfter:
            faults.dropWatchesAfterSeconds === undefined
              ? undefined
              : Duration.seconds(faults.dropWatchesAfterSeconds),
        }),
      )
    if (def === Namespaces) {
      if (verb === "watch") {
        const params = yield* Effect.fromResult(watchParams(def, undefined, route.name, req.query))
        const objects = yield* Rest.namespaceObjects(store, deps.startedAt)
        return yield* watching((emit) => runStaticWatch(objects, params, table ? render : undefined, emit))
      }
      if (verb === "get") return answer(yield* Rest.getNamespace(route.name ?? "", deps.startedAt))
      if (verb === "list") return answer(yield* Rest.listNamespaces(store, req.query, deps.startedAt))
      return yield* methodNotAllowed()
    }
    if (def.namespaced && route.namespace === undefined && verb !== "list" && verb !== "watch") {
      return yield* methodNotAllowed()
    }
    switch (verb) {
      case "watch": {
        const params = yield* Effect.fromResult(watchParams(def, route.namespace, route.name, req.query))
        const options = table
          ? { bookmarkInterval: deps.bookmarkInterval, render }
          : { bookmarkInterval: deps.bookmarkInterval }
        return yield* watching((emit) => runWatch(store, params, options, emit))
      }
      case "get":
        return answer(yield* Rest.get(store, restReq))
      case "list":
        return answer(yield* Rest.list(store, restReq))
      case "create":
        return answer(yield* Rest.create(store, restReq))
      case "update":
        return answer(yield* Rest.update(store, restReq))
      case "patch":
        return answer(yield* Rest.patch(store, restReq))
      case "delete":
        return answer(yield* Rest.remove(store, restReq))
      default:
        return yield* methodNotAllowed()
    }
  })

  /** Answers one request; never fails (failures are Status bodies). */
  const handle = (req: ApiRequest): Effect.Effect<ApiResponse> =>
    Effect.gen(function* () {
      const path = req.path.length > 1 ? req.path.replace(/\/+$/, "") : req.path
      if (req.method === "GET" && /^\/(healthz|livez|readyz)(\/.*)?$/.test(path)) {
        yield* controls.countRequest(path, "get")
        return { _tag: "Text", status: 200, text: "ok" } satisfies ApiResponse
      }
      const faults = yield* controls.faults
      if (faults.latencyMs > 0) yield* Effect.sleep(Duration.millis(faults.latencyMs))
      if (req.method === "GET" && path === "/version") {
        yield* controls.countRequest(path, "get")
        return json(200, discovery.version)
      }
      const user = yield* authenticate(req)
      if (Option.isNone(user)) return fromError(unauthorized())
      const disco = req.method === "GET" ? discoveryAnswer(path) : undefined
      if (disco !== undefined) {
        yield* controls.countRequest(path, "get")
        return disco
      }
      const route = resolve(path.split("/").filter((s) => s !== ""))
      if (route === undefined) {
        yield* controls.countRequest(path, req.method.toLowerCase())
        return path.startsWith("/api")
          ? fromError(pathNotFound())
          : ({ _tag: "Text", status: 404, text: "404 page not found\n" } satisfies ApiResponse)
      }
      const verb = verbOf(req.method, route, req.query)
      const resourceKey =
        route.subresource === undefined ? route.def.resource : `${route.def.resource}/status`
      yield* controls.countRequest(resourceKey, verb ?? req.method.toLowerCase())
      if (verb === undefined) return fromError(methodNotAllowed())
      if (faults.forbiddenUsers.includes(user.value.username)) {
        return fromError(forbidden(route.def, user.value.username, verb, route.namespace))
      }
      if (faults.failureRate > 0 && (yield* Random.next) < faults.failureRate) {
        yield* controls.countInjectedFailure
        return fromError(serviceUnavailable())
      }
      const result = yield* Effect.result(resourceRequest(req, route, verb, user.value))
      if (Result.isFailure(result)) return fromError(result.failure)
      if (writeVerbs.has(verb)) yield* controls.countWrite
      return result.success
    })

  return { handle }
}

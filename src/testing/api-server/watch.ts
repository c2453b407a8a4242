/**
 * The watch protocol: a stream of `{"type", "object"}` lines. Starting without a
 * resourceVersion (or at "0") sends synthetic ADDED events for what exists; starting
 * at a resourceVersion replays the retained history after it, or sends one ERROR event
 * with a 410 Expired Status when that history is gone. With selectors, an object that
 * stops (starts) matching arrives as DELETED (ADDED), as from the apiserver's watch cache.
 * BOOKMARKs carry a resourceVersion that every event before them is at or below.
 */
import { Duration, Effect, Queue, Result } from "effect"
import type { KubeObject } from "./objects.js"
import type { ResourceDef, StoredResource } from "./resources.js"
import { type Selectors, selectorsOf, selects } from "./rest.js"
import { type ApiError, badRequest } from "./status.js"
import type { ObjectStore, StoreEvent, WatchStart } from "./store.js"

export interface WatchParams {
  readonly def: ResourceDef
  /** Undefined watches every namespace. */
  readonly namespace: string | undefined
  readonly selectors: Selectors
  readonly start: WatchStart | { readonly _tag: "Now" }
  readonly bookmarks: boolean
  /** Send a BOOKMARK annotated `k8s.io/initial-events-end` after the initial events. */
  readonly initialEventsEnd: boolean
  readonly timeout: Duration.Duration | undefined
}

/** Reads the watch parameters from the query; bad selectors or versions fail before the stream starts. */
export const watchParams = (
  def: ResourceDef,
  namespace: string | undefined,
  name: string | undefined,
  query: URLSearchParams,
): Result.Result<WatchParams, ApiError> => {
  const selected = selectorsOf(def, query)
  if (Result.isFailure(selected)) return Result.fail(selected.failure)
  // watching one object (the legacy /watch/.../name path) is a field selector on its name
  const selectors: Selectors =
    name === undefined
      ? selected.success
      : {
          ...selected.success,
          fields: [...selected.success.fields, { field: "metadata.name", op: "=", value: name }],
        }
  const rv = query.get("resourceVersion") ?? ""
  const sendInitial = query.get("sendInitialEvents")
  const bookmarks = query.get("allowWatchBookmarks") === "true"
  let start: WatchParams["start"]
  if (rv === "" || rv === "0") {
    start = sendInitial === "false" && rv === "" ? { _tag: "Now" } : { _tag: "Snapshot" }
  } else if (/^[0-9]+$/.test(rv)) {
    start = sendInitial === "true" ? { _tag: "Snapshot" } : { _tag: "Since", resourceVersion: Number(rv) }
  } else {
    return Result.fail(badRequest(`invalid resource version: ${rv}`))
  }
  const timeoutSeconds = query.get("timeoutSeconds")
  const seconds = timeoutSeconds === null ? undefined : Number(timeoutSeconds)
  if (seconds !== undefined && !(Number.isFinite(seconds) && seconds >= 0)) {
    return Result.fail(badRequest(`invalid timeoutSeconds: ${timeoutSeconds}`))
  }
  return Result.succeed({
    def,
    namespace,
    selectors,
    start,
    bookmarks,
    initialEventsEnd: sendInitial === "true" && bookmarks,
    timeout: seconds === undefined || seconds === 0 ? undefined : Duration.seconds(seconds),
  })
}

type Item =
  | { readonly _tag: "Event"; readonly event: StoreEvent }
  | { readonly _tag: "Bookmark"; readonly rv: number }

interface WatchLine {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"
  readonly object: unknown
}

const withRv = (obj: KubeObject, rv: number): KubeObject => ({
  ...obj,
  metadata: { ...obj.metadata, resourceVersion: String(rv) },
})

/** What one store event looks like to a watcher with these parameters, if anything. */
const toLine = (p: WatchParams, event: StoreEvent): WatchLine | undefined => {
  const inScope = (o: KubeObject | undefined): boolean =>
    o !== undefined &&
    (p.namespace === undefined || o.metadata.namespace === p.namespace) &&
    selects(p.def, p.selectors, o)
  const now = inScope(event.object)
  const before = event.type === "MODIFIED" ? inScope(event.previous) : now
  if (event.type === "MODIFIED") {
    if (now && before) return { type: "MODIFIED", object: event.object }
    if (now) return { type: "ADDED", object: event.object }
    if (before && event.previous !== undefined)
      return { type: "DELETED", object: withRv(event.previous, event.resourceVersion) }
    return undefined
  }
  return now ? { type: event.type, object: event.object } : undefined
}

const bookmark = (def: ResourceDef, rv: number, initialEventsEnd: boolean): WatchLine => ({
  type: "BOOKMARK",
  object: {
    kind: def.kind,
    apiVersion: def.apiVersion,
    metadata: {
      resourceVersion: String(rv),
      ...(initialEventsEnd ? { annotations: { "k8s.io/initial-events-end": "true" } } : {}),
    },
  },
})

export interface WatchOptions {
  readonly bookmarkInterval: Duration.Duration
  /** Renders each event's object (kubectl asks for Tables); identity when absent. */
  readonly render?: (object: KubeObject) => Effect.Effect<unknown>
}

/**
 * Runs one watch, handing each line (JSON plus newline) to `emit`, until the client goes
 * (the caller interrupts), `timeoutSeconds` passes, or the start is too old (one ERROR line).
 */
export const runWatch = (
  store: ObjectStore["Service"],
  params: WatchParams,
  options: WatchOptions,
  emit: (line: string) => Effect.Effect<void>,
): Effect.Effect<void> => {
  const render = options.render
  const send = (line: WatchLine): Effect.Effect<void> =>
    render === undefined || line.type === "BOOKMARK" || line.type === "ERROR"
      ? emit(`${JSON.stringify(line)}\n`)
      : Effect.flatMap(render(line.object as KubeObject), (object) =>
          emit(`${JSON.stringify({ type: line.type, object })}\n`),
        )
  const resource = params.def.resource as StoredResource
  const body = Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Item>()
    const start: WatchStart =
      params.start._tag === "Now"
        ? { _tag: "Since", resourceVersion: yield* store.currentResourceVersion }
        : params.start
    const subscribed = yield* Effect.acquireRelease(
      Effect.result(
        store.subscribe(resource, start, (event) => void Queue.offerUnsafe(queue, { _tag: "Event", event })),
      ),
      (r) => Effect.sync(() => (Result.isSuccess(r) ? r.success.unsubscribe() : undefined)),
    )
    if (Result.isFailure(subscribed)) {
      yield* send({ type: "ERROR", object: subscribed.failure.status })
      return
    }
    for (const event of subscribed.success.initial) {
      const line = toLine(params, event)
      if (line !== undefined) yield* send(line)
    }
    if (params.initialEventsEnd) {
      yield* send(bookmark(params.def, yield* store.currentResourceVersion, true))
    }
    if (params.bookmarks) {
      // the version is read when the tick is queued, so every event queued before it is older
      const tick = Effect.flatMap(store.currentResourceVersion, (rv) =>
        Effect.sync(() => void Queue.offerUnsafe(queue, { _tag: "Bookmark", rv })),
      )
      yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(options.bookmarkInterval), tick)))
    }
    yield* Effect.forever(
      Effect.flatMap(Queue.take(queue), (item) => {
        if (item._tag === "Bookmark") return send(bookmark(params.def, item.rv, false))
        const line = toLine(params, item.event)
        return line === undefined ? Effect.void : send(line)
      }),
    )
  })
  const scoped = Effect.scoped(body)
  return params.timeout === undefined ? scoped : Effect.asVoid(Effect.timeoutOption(scoped, params.timeout))
}

/**
 * A watch over objects that never change (namespaces): the snapshot as ADDED events
 * when starting from "now" or "0", then nothing until the client leaves or the timeout.
 */
export const runStaticWatch = (
  objects: ReadonlyArray<KubeObject>,
  params: WatchParams,
  render: ((object: KubeObject) => Effect.Effect<unknown>) | undefined,
  emit: (line: string) => Effect.Effect<void>,
): Effect.Effect<void> => {
  const initial =
    params.start._tag === "Snapshot" ? objects.filter((o) => selects(params.def, params.selectors, o)) : []
  const body = Effect.andThen(
    Effect.forEach(initial, (o) =>
      Effect.flatMap(render === undefined ? Effect.succeed<unknown>(o) : render(o), (object) =>
        emit(`${JSON.stringify({ type: "ADDED", object })}\n`),
      ),
    ),
    Effect.never,
  )
  return params.timeout === undefined ? body : Effect.asVoid(Effect.timeoutOption(body, params.timeout))
}

/**
 * The metrics server on --metrics-bind-address: Prometheus text on /metrics,
 * liveness on /healthz and readiness on /readyz. Off when the address is `0`.
 */
import * as http from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Clock, Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { Config } from "../config.js"
import { Lifecycle } from "../volume/lifecycle.js"
import { Health, type Unhealthy } from "./health.js"
import { refreshGauges } from "./metrics.js"

const healthRoute = (
  path: HttpRouter.PathInput,
  check: (health: Health["Service"]) => Effect.Effect<void, Unhealthy>,
) =>
  HttpRouter.add(
    "GET",
    path,
    Effect.gen(function* () {
      const health = yield* Health
      return yield* check(health).pipe(
        Effect.as(HttpServerResponse.text("ok\n")),
        Effect.catch((unhealthy) =>
          Effect.succeed(HttpServerResponse.text(`${unhealthy.message}\n`, { status: 503 })),
        ),
      )
    }),
  )

/** Gauges read off the driver's state are refreshed right before each scrape. */
const metricsRoute = HttpRouter.add(
  "GET",
  "/metrics",
  Effect.gen(function* () {
    const lifecycle = yield* Lifecycle
    yield* refreshGauges(yield* lifecycle.summary, yield* Clock.currentTimeMillis)
    const text = yield* PrometheusMetrics.format()
    return HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
  }),
)

const routes = Layer.mergeAll(
  metricsRoute,
  healthRoute("/healthz", (health) => health.live),
  healthRoute("/readyz", (health) => health.ready),
)

export const MetricsServer = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* Config
    const address = config.metricsAddress
    if (address === undefined) return Layer.empty
    return HttpRouter.serve(routes, { disableLogger: true }).pipe(
      Layer.provide(
        NodeHttpServer.layer(() => http.createServer(), { port: address.port, host: address.host }),
      ),
      Layer.tap(() => Effect.logInfo("metrics server listening").pipe(Effect.annotateLogs({ ...address }))),
    )
  }),
)

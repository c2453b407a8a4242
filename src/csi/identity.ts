/**
 * The CSI Identity service: who we are, that we have no controller, and Probe.
 * Probe follows the driver's own liveness (the same checks as /healthz), not the
 * API server's: the livenessprobe sidecar restarts us when Probe fails, and
 * restarting the driver because the API server is down only adds churn.
 */
import { Effect } from "effect"
import { Config } from "../config.js"
import type { IdentityHandlers } from "../gen/csi/v1/Identity.js"
import { Health } from "../observability/health.js"
import { version } from "../version.js"
import { type Runner, unary } from "./bridge.js"

export const identityHandlers = Effect.fnUntraced(function* (run: Runner) {
  const config = yield* Config
  const health = yield* Health
  return {
    GetPluginInfo: unary(run, "GetPluginInfo", () =>
      Effect.succeed({ name: config.driverName, vendor_version: version, manifest: {} }),
    ),
    // No CONTROLLER_SERVICE: ephemeral volumes need no controller.
    GetPluginCapabilities: unary(run, "GetPluginCapabilities", () => Effect.succeed({ capabilities: [] })),
    Probe: unary(run, "Probe", () => health.live.pipe(Effect.as({ ready: { value: true } }))),
  } satisfies IdentityHandlers
})

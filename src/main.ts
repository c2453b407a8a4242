#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * The `cert-manager-csi-driver` binary: parse upstream's flags, build the driver's
 * layers and run until SIGTERM/SIGINT, which stop it cleanly with exit code 0.
 * `cert-manager-csi-driver sandbox` runs the embedded Kubernetes API and CA issuer.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer } from "effect"
import { Command } from "effect/cli"
import { driverLayer } from "./app.js"
import { driverFlags, toDriverConfig } from "./config.js"
import { sandboxCommand } from "./testing/sandbox-command.js"
import { version } from "./version.js"

const driver = Command.make("cert-manager-csi-driver", driverFlags, (flags) =>
  Layer.launch(driverLayer(toDriverConfig(flags))),
).pipe(
  Command.withDescription(
    "cert-manager CSI driver: mounts certificates into pods, with keys made on the node.",
  ),
  Command.withSubcommands([sandboxCommand]),
)

const program = Command.run(driver, { version }).pipe(Effect.provide(NodeServices.layer))

// SIGTERM/SIGINT interrupt the program: that is a clean stop, not a failure.
NodeRuntime.runMain(program, {
  teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1),
})

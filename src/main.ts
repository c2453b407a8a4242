#!/usr/bin/env -S MALLOC_ARENA_MAX=1 node --max-semi-space-size=2 --expose-gc --invocation-count-for-maglev=100
/**
 * The `cert-manager-csi-driver` binary: parse upstream's flags, build the driver's
 * layers and run until SIGTERM/SIGINT, which stop it cleanly with exit code 0.
 * `cert-manager-csi-driver sandbox` runs the embedded Kubernetes API and CA issuer.
 *
 * The shebang is how it runs everywhere (image, bin entry, tests), for memory and CPU
 * (figures from bench/; memory at 110 concurrent publishes):
 * - a 2 MiB young generation: the default (16-32 MiB per semi-space) costs ~70 MiB;
 * - not V8's memory saver mode: it keeps a burst's old generation ~15 MiB smaller, but
 *   its compacting full GCs pause a publish for up to ~60 ms (p99 29 → 80 ms);
 * - one malloc arena: glibc otherwise gives threads that allocate (libuv's pool makes
 *   the keys, V8's workers compile and mark) arenas of their own, each kept at its
 *   peak (8-20 MiB more at a burst's peak; sharing one cost no measurable CPU);
 * - Sparkplug (V8's baseline compiler) on: code that runs once per publish waits for Maglev
 *   for a long time (or for good, on a quiet node), and meanwhile runs as baseline code
 *   rather than interpreted (interleaved runs: 0.92-0.94x the CPU per publish, 0.89x per
 *   unpublish);
 * - Maglev after 100 calls of a function rather than V8's 400: the publish path's code runs
 *   once per publish, so a node that sees a few hundred publishes would otherwise run it
 *   interpreted for good (interleaved runs: 0.94-0.97x the CPU per publish, no more memory).
 *   Sooner (20-50 calls) measured 0.82-0.87x once but took a burst's peak to 124-140 MiB;
 * - TurboFan on (V8's default top tier): over a node's first few hundred publishes it costs
 *   what it saves (its compiles, its deopts on the Effect runtime's polymorphic code: ab
 *   1.01x per publish against Maglev as the top tier), and once the publish path is
 *   optimized a publish costs ~8% less CPU on the main thread (warm samples, seven
 *   interleaved runs: 2.43-2.50 ms against 2.48-3.19). It costs ~2-3 MiB of RSS (the
 *   compiler's pages of the binary: at rest 80.2 against 78.0 MiB, burst peak 96.5 against 93.3);
 * - `gc()` exposed, for observability/housekeeping.ts: once publishes stop, one full
 *   collection gives a burst's garbage back (V8 alone kept it on a quiet node).
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer, Result } from "effect"
import { CliError, Command } from "effect/cli"
import { driverLayer } from "./app.js"
import { conflictOf, driverFlags, toDriverConfig } from "./config.js"
import { sandboxCommand } from "./testing/sandbox-command.js"
import { version } from "./version.js"

const driver = Command.make("cert-manager-csi-driver", driverFlags, (flags) =>
  Layer.launch(driverLayer(toDriverConfig(flags))),
).pipe(
  // Flags that parse one by one but cannot work together: reported like any bad flag.
  Command.validate((flags) =>
    Result.match(conflictOf(flags), {
      onFailure: (message) => Effect.fail(new CliError.ValidationError({ message })),
      onSuccess: () => Effect.void,
    }),
  ),
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

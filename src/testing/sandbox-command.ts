/**
 * `cert-manager-csi-driver sandbox [--port N] [--kubeconfig-out FILE] [--ca-out DIR]`:
 * the embedded Kubernetes API and CA issuer, for trying the driver without a cluster.
 * The sandbox (API server, CA issuer, @peculiar/x509) is imported only when this
 * subcommand runs: the driver binary on every node never loads it.
 */
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"

export const sandboxCommand = Command.make(
  "sandbox",
  {
    port: Flag.Int("port").pipe(
      Flag.withDescription("Port for the API server (0 picks a free one)."),
      Flag.optional,
    ),
    kubeconfigOut: Flag.String("kubeconfig-out").pipe(
      Flag.withDescription("Where to write the kubeconfig for the driver and kubectl."),
      Flag.optional,
    ),
    caOut: Flag.String("ca-out").pipe(
      Flag.withDescription("Directory to write the sandbox CA (ca.crt) to."),
      Flag.optional,
    ),
  },
  (flags) =>
    Effect.scoped(
      Effect.flatMap(
        Effect.promise(() => import("./sandbox.js")),
        ({ runSandbox }) =>
          runSandbox({
            ...Option.match(flags.port, { onNone: () => ({}), onSome: (port) => ({ port }) }),
            ...Option.match(flags.kubeconfigOut, {
              onNone: () => ({}),
              onSome: (kubeconfigOut) => ({ kubeconfigOut }),
            }),
            ...Option.match(flags.caOut, { onNone: () => ({}), onSome: (caOut) => ({ caOut }) }),
          }),
      ),
    ),
).pipe(Command.withDescription("Run an in-process Kubernetes API server and CA issuer to try the driver on."))

/**
 * Liveness and readiness, built from checks that each part of the driver registers
 * for itself (the gRPC server, the data root, the shared watch). `live` backs CSI
 * Probe and /healthz; `ready` backs /readyz and adds the checks that depend on the
 * API server. A check that does not answer in time counts as failed.
 */
import { Context, Duration, Effect, Layer, Ref, Schema } from "effect"

export class Unhealthy extends Schema.TaggedError<Unhealthy>()("Unhealthy", {
  failures: Schema.Array(Schema.String),
}) {
  override get message(): string {
    return `unhealthy: ${this.failures.join("; ")}`
  }
}

export type CheckKind = "liveness" | "readiness"

export interface Check {
  readonly name: string
  readonly kind: CheckKind
  /** Fails with a short reason when the part is not working. */
  readonly run: Effect.Effect<void, string>
}

const checkTimeout = Duration.seconds(2)

export class Health extends Context.Service<
  Health,
  {
    readonly register: (check: Check) => Effect.Effect<void>
    /** The driver itself works: liveness checks pass. */
    readonly live: Effect.Effect<void, Unhealthy>
    /** Live, and the readiness checks (API reachable, watch synced) pass too. */
    readonly ready: Effect.Effect<void, Unhealthy>
  }
>()("csi/Health") {
  static readonly layer = Layer.effect(
    Health,
    Effect.gen(function* () {
      const checks = yield* Ref.make<ReadonlyArray<Check>>([])
      const runAll = (kinds: ReadonlyArray<CheckKind>) =>
        Effect.gen(function* () {
          const selected = (yield* Ref.get(checks)).filter((check) => kinds.includes(check.kind))
          const results = yield* Effect.forEach(
            selected,
            (check) =>
              check.run.pipe(
                Effect.timeoutOrElse({
                  duration: checkTimeout,
                  orElse: () => Effect.fail("did not answer within 2s"),
                }),
                Effect.match({
                  onFailure: (reason) => `${check.name}: ${reason}`,
                  onSuccess: () => undefined,
                }),
              ),
            { concurrency: "unbounded" },
          )
          const failures = results.filter((result): result is string => result !== undefined)
          if (failures.length > 0) return yield* new Unhealthy({ failures })
        })
      return Health.of({
        register: (check) =>
          Ref.update(checks, (all) => [...all.filter((c) => c.name !== check.name), check]),
        live: runAll(["liveness"]),
        ready: runAll(["liveness", "readiness"]),
      })
    }),
  )
}

/**
 * The Effect face of the sandbox: `makeSandbox` in a scope (stopping with it), the
 * Effect-returning operations, and `runSandbox` (the CLI subcommand) writing a kubeconfig
 * and ca.crt that real clients can use.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, it } from "@effect/vitest"
import { CustomObjectsApi, KubeConfig } from "@kubernetes/client-node"
import { Duration, Effect, Exit, Fiber, Scope } from "effect"
import { defaultBehaviours } from "../../src/testing/issuer/behaviour.js"
import { makeSandbox, runSandbox } from "../../src/testing/sandbox.js"
import { CR, condition, crBody, makeCsr, raw, tempDir, verifyWithOpenssl } from "./support.js"

/** Re-runs `check` every 10ms until it yields a value (the test's timeout bounds it). */
const until = <A>(check: Effect.Effect<A | undefined>): Effect.Effect<A> =>
  Effect.flatMap(check, (a) =>
    a !== undefined
      ? Effect.succeed(a)
      : Effect.andThen(
          Effect.sleep(Duration.millis(10)),
          Effect.suspend(() => until(check)),
        ),
  )

it.live("makeSandbox serves until its scope closes; operations are Effects", () =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const sb = yield* Scope.provide(scope)(makeSandbox({ tls: true }))
    assert.match(sb.url, /^https:\/\/127\.0\.0\.1:\d+$/)
    const pod = yield* sb.registerPod({ namespace: "fx", name: "p" })
    assert.isString(pod.metadata.uid)
    const { request } = yield* Effect.promise(() => makeCsr({ commonName: "fx" }))
    const kc = new KubeConfig()
    kc.loadFromString(sb.kubeconfig(sb.driverToken))
    const api = kc.makeApiClient(CustomObjectsApi)
    yield* Effect.promise(() =>
      api.createNamespacedCustomObject({ ...CR, namespace: "fx", body: crBody("fx", { request }) }),
    )
    const ready = yield* until(
      Effect.map(sb.getCertificateRequest("fx", "fx"), (cr) =>
        condition(cr, "Ready")?.status === "True" ? cr : undefined,
      ),
    )
    const certificate = (ready.status as { certificate: string }).certificate
    assert.include(yield* Effect.promise(() => verifyWithOpenssl(sb.caPem, certificate)), "OK")
    assert.strictEqual(
      (yield* sb.createdBy("certificaterequests", "fx", "fx"))?.username,
      "system:serviceaccount:cert-manager:cert-manager-csi-driver",
    )
    assert.lengthOf(yield* sb.listObjects("pods", "fx"), 1)
    assert.isAtLeast((yield* sb.stats()).writes, 1)
    yield* sb.stop()
    yield* sb.start()
    assert.strictEqual((yield* Effect.promise(() => raw(sb, "GET", "/version"))).status, 200)
    yield* Scope.close(scope, Exit.void)
    const after = yield* Effect.promise(() =>
      raw(sb, "GET", "/version").then(
        () => "up",
        (e: unknown) => String(e),
      ),
    )
    assert.match(after, /ECONNREFUSED/)
  }),
)

it.live(
  "runSandbox writes a kubeconfig (driver and admin contexts) and ca.crt, and runs until interrupted",
  () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const kubeconfigOut = join(dir, "out", "kubeconfig")
      const caOut = join(dir, "ca")
      const fiber = yield* Effect.forkChild(Effect.scoped(runSandbox({ kubeconfigOut, caOut })))
      yield* until(
        Effect.sync(() =>
          existsSync(kubeconfigOut) && existsSync(join(caOut, "ca.crt")) ? true : undefined,
        ),
      )
      const text = readFileSync(kubeconfigOut, "utf8")
      const kc = new KubeConfig()
      kc.loadFromString(text)
      assert.strictEqual(kc.getCurrentContext(), "driver")
      assert.sameMembers(
        kc.getContexts().map((c) => c.name),
        ["driver", "admin"],
      )
      const api = kc.makeApiClient(CustomObjectsApi)
      const { request } = yield* Effect.promise(() => makeCsr({ commonName: "cli" }))
      const created = yield* Effect.promise(() =>
        api.createNamespacedCustomObject({ ...CR, namespace: "cli", body: crBody("cli", { request }) }),
      )
      assert.strictEqual(created.spec.username, "system:serviceaccount:cert-manager:cert-manager-csi-driver")
      assert.include(readFileSync(join(caOut, "ca.crt"), "utf8"), "BEGIN CERTIFICATE")
      yield* Fiber.interrupt(fiber)
    }),
)

it("ships the documented default issuers", () => {
  assert.deepStrictEqual(Object.keys(defaultBehaviours).sort(), [
    "ca-issuer",
    "deny-issuer",
    "empty-certificate-issuer",
    "expired-issuer",
    "fail-issuer",
    "intermediate-issuer",
    "junk-between-issuer",
    "malformed-issuer",
    "not-a-certificate-issuer",
    "not-yet-valid-issuer",
    "slow-issuer",
    "trailing-data-issuer",
    "wrong-ca-issuer",
  ])
  assert.deepStrictEqual(defaultBehaviours["slow-issuer"], { _tag: "Sign", delay: "5 seconds" })
})

/**
 * What the driver makes of the API server's refusals, through the real client
 * (@kubernetes/client-node over HTTPS) against the sandbox API server: the error
 * each status means, the gRPC code it becomes, and a message that names the verb
 * and the CertificateRequest. And pod events: cut at 1 KiB, repeats folded.
 */
import { KubeConfig } from "@kubernetes/client-node"
import { Effect, Exit, Layer, ManagedRuntime, Redacted, Result } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decodeAttributes } from "../../src/attributes/parse.js"
import type { CertificateSpec } from "../../src/attributes/spec.js"
import { Config } from "../../src/config.js"
import { toStatus } from "../../src/csi/status.js"
import { CertificateRequests, type SubmitInput } from "../../src/kube/certificate-requests.js"
import { KubeClient } from "../../src/kube/client.js"
import { PodEvents } from "../../src/kube/events.js"
import { Health } from "../../src/observability/health.js"
import { type RunningSandbox, startSandbox } from "../../src/testing/sandbox.js"
import { makeCsr } from "../testing/support.js"
import { testConfig } from "../volume/programs-support.js"

const pod = { name: "app-0", namespace: "team-a", uid: "", serviceAccountName: "app" }

const specOf = (): CertificateSpec => {
  const decoded = decodeAttributes(
    { "csi.cert-manager.io/issuer-name": "ca-issuer", "csi.cert-manager.io/dns-names": "a.example.com" },
    pod,
  )
  if (Result.isFailure(decoded)) throw new Error(decoded.failure.message)
  return decoded.success
}

describe("API errors through the real client against the sandbox API server", () => {
  let sandbox: RunningSandbox
  let runtime: ManagedRuntime.ManagedRuntime<CertificateRequests | PodEvents, unknown>
  let podUid: string
  let requests = 0

  beforeAll(async () => {
    sandbox = await startSandbox()
    podUid = String((await sandbox.registerPod({ namespace: pod.namespace, name: pod.name })).metadata.uid)
    const kubeConfig = new KubeConfig()
    kubeConfig.loadFromString(sandbox.kubeconfig(sandbox.driverToken))
    const base = Layer.mergeAll(Config.layer(testConfig()), Health.layer)
    const client = KubeClient.fromKubeConfig(kubeConfig).pipe(Layer.provide(base))
    runtime = ManagedRuntime.make(
      Layer.mergeAll(CertificateRequests.layer, PodEvents.layer).pipe(
        Layer.provide(client),
        Layer.provide(base),
      ),
    )
  })
  afterAll(async () => {
    await runtime?.dispose()
    await sandbox?.close()
  })

  const submit = (overrides: Partial<SubmitInput> = {}) => {
    const input: SubmitInput = {
      name: `request-${++requests}`,
      volumeId: `csi-${requests}`,
      pod: { ...pod, uid: podUid },
      spec: specOf(),
      csrPem: "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n",
      token: undefined,
      ...overrides,
    }
    return runtime
      .runPromiseExit(CertificateRequests.use((r) => r.submit(input)))
      .then((exit) => ({ input, exit, status: toStatus(exit) }))
  }

  it("a webhook's refusal on create (406) is INVALID_ARGUMENT with the webhook's reason", async () => {
    const { input, exit, status } = await submit({ csrPem: "" })
    expect(Exit.isFailure(exit) && exit.cause.toString()).toContain("KubeApiRejected")
    expect(status.name).toBe("INVALID_ARGUMENT")
    expect(status.details).toContain(`create CertificateRequest team-a/${input.name}: HTTP 406 NotAcceptable`)
    expect(status.details).toContain('admission webhook "webhook.cert-manager.io" denied the request')
    expect(status.details).toContain("spec.request")
  })

  it("a validation failure on create (422) is INVALID_ARGUMENT naming the field", async () => {
    const { status } = await submit({ name: "Not_A_Name" })
    expect(status.name).toBe("INVALID_ARGUMENT")
    expect(status.details).toContain("create CertificateRequest team-a/Not_A_Name: HTTP 422 Invalid")
    expect(status.details).toContain("metadata.name")
  })

  it("a token the API server does not know (401) is UNAUTHENTICATED and never shown", async () => {
    const { input, status } = await submit({ token: Redacted.make("not-a-known-token") })
    expect(status.name).toBe("UNAUTHENTICATED")
    expect(status.details).toContain(`create CertificateRequest team-a/${input.name}: HTTP 401 Unauthorized`)
    expect(status.details).toContain("tokenRequests")
    expect(status.details).not.toContain("not-a-known-token")
  })

  it("a user without the permission (403) is PERMISSION_DENIED with the API server's reason", async () => {
    const token = sandbox.serviceAccountToken(pod.namespace, "no-rbac")
    await sandbox.setFaults({ forbiddenUsers: [`system:serviceaccount:${pod.namespace}:no-rbac`] })
    try {
      const { input, status } = await submit({ token: Redacted.make(token) })
      expect(status.name).toBe("PERMISSION_DENIED")
      expect(status.details).toContain(`create CertificateRequest team-a/${input.name}: HTTP 403 Forbidden`)
      expect(status.details).toContain('cannot create resource "certificaterequests"')
    } finally {
      await sandbox.setFaults({ forbiddenUsers: [] })
    }
  })

  it("a failing API server (503) and one that does not answer are UNAVAILABLE", async () => {
    await sandbox.setFaults({ failureRate: 1 })
    try {
      const { status } = await submit()
      expect(status.name).toBe("UNAVAILABLE")
      expect(status.details).toContain("HTTP 503 ServiceUnavailable")
    } finally {
      await sandbox.setFaults({ failureRate: 0 })
    }
    await sandbox.stop()
    try {
      const { status } = await submit()
      expect(status.name).toBe("UNAVAILABLE")
      expect(status.details).toContain("no response")
    } finally {
      await sandbox.start()
    }
  })

  it("an API server slower than the request timeout is UNAVAILABLE, with no response", async () => {
    const base = Layer.mergeAll(Config.layer(testConfig()), Health.layer)
    const kubeConfig = new KubeConfig()
    kubeConfig.loadFromString(sandbox.kubeconfig(sandbox.driverToken))
    const client = KubeClient.fromKubeConfig(kubeConfig, { requestTimeoutMs: 200 }).pipe(Layer.provide(base))
    const impatient = ManagedRuntime.make(
      CertificateRequests.layer.pipe(Layer.provide(client), Layer.provide(base)),
    )
    // Built (its informer listed) before the API server slows down: only the create is timed.
    await impatient.runPromise(CertificateRequests.use(() => Effect.void))
    await sandbox.setFaults({ latencyMs: 3000 })
    try {
      const { pem } = await makeCsr({ dnsNames: ["a.example.com"] })
      const input: SubmitInput = {
        name: `request-${++requests}`,
        volumeId: `csi-${requests}`,
        pod: { ...pod, uid: podUid },
        spec: specOf(),
        csrPem: pem,
        token: undefined,
      }
      const started = performance.now()
      const exit = await impatient.runPromiseExit(CertificateRequests.use((r) => r.submit(input)))
      const status = toStatus(exit)
      expect(status.name).toBe("UNAVAILABLE")
      expect(status.details).toContain(`create CertificateRequest team-a/${input.name}: no response`)
      // The timeout (200 ms) answered, not the API server (3 s late); room for a loaded machine.
      expect(performance.now() - started).toBeLessThan(2500)
    } finally {
      await sandbox.setFaults({ latencyMs: 0 })
      await impatient.dispose()
    }
  })

  it("keeps 409 on create (its own earlier request) and 404 on delete as success", async () => {
    const { pem } = await makeCsr({ dnsNames: ["a.example.com"] })
    const first = await submit({ csrPem: pem })
    expect(first.status.details).toBe("")
    const again = await runtime.runPromiseExit(CertificateRequests.use((r) => r.submit(first.input)))
    expect(Exit.isSuccess(again)).toBe(true)
    const removed = await runtime.runPromiseExit(
      CertificateRequests.use((r) =>
        r
          .remove({ namespace: pod.namespace, name: "never-created" })
          .pipe(Effect.andThen(r.remove({ namespace: pod.namespace, name: first.input.name }))),
      ),
    )
    expect(Exit.isSuccess(removed)).toBe(true)
  })

  it("an answered request found in the cache (a resume) is read once from the API server for its certificate", async () => {
    const { pem } = await makeCsr({ dnsNames: ["a.example.com"] })
    const { input } = await submit({ csrPem: pem })
    const request = { namespace: pod.namespace, name: input.name }
    const awaitIssued = () =>
      runtime.runPromise(CertificateRequests.use((r) => r.awaitIssued(request, "ca-issuer")))
    // Waiting from before the answer: the watch event brings the certificate.
    const fresh = await awaitIssued()
    expect(fresh.certificatePem).toContain("BEGIN CERTIFICATE")
    // Waiting after it: the cache's copy has no certificate, so it is read again, the same one.
    const resumed = await awaitIssued()
    expect(resumed).toEqual(fresh)
  })

  it("pod events are cut at 1 KiB and repeats are folded into one", async () => {
    const message = `issuer said: ${"x".repeat(10_000)}`
    const record = () =>
      runtime.runPromise(
        PodEvents.use((events) =>
          events.record({ ...pod, uid: podUid }, { type: "Warning", reason: "IssuanceFailed", message }),
        ),
      )
    await record()
    await record()
    const events = (await sandbox.listObjects("events", pod.namespace)) as unknown as ReadonlyArray<{
      reason: string
      message: string
      count: number
    }>
    const failed = events.filter((e) => e.reason === "IssuanceFailed")
    expect(failed).toHaveLength(1)
    expect(failed[0]?.count).toBe(2)
    expect(Buffer.byteLength(failed[0]?.message ?? "")).toBeLessThanOrEqual(1024)
    expect(failed[0]?.message).toMatch(/^issuer said: x+ … \(cut: 10,013 characters in all\)$/)
  })
})

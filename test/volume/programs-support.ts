/**
 * Shared set-up for the volume program tests: the real programs and the real
 * Lifecycle, VolumeLocks and Tokens layers over the in-memory fakes (store, mounter,
 * keys, CertificateRequests) and a literal Config, plus request builders and a
 * poll for work that finishes on real async crypto while TestClock holds time.
 */
import { Duration, Effect, Layer, Option, Random, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as K from "../../src/attributes/keys.js"
import type { PodInfo } from "../../src/attributes/spec.js"
import { Config, type DriverConfig } from "../../src/config.js"
import type { PublishRequest, UnpublishRequest } from "../../src/csi/request.js"
import type { ServiceAccountToken } from "../../src/csi/token.js"
import type { Pods } from "../../src/kube/pods.js"
import { KeyGenerator } from "../../src/pki/keys.js"
import {
  FakeCertificateRequests,
  type FakeCertificateRequestsOptions,
} from "../../src/testing/fake-certificate-requests.js"
import { FakeKeyGenerator } from "../../src/testing/fake-keys.js"
import { FakePods } from "../../src/testing/fake-pods.js"
import { type MemoryVolume, MemoryVolumeStore } from "../../src/testing/memory-store.js"
import { RecordingPodEvents } from "../../src/testing/recording-events.js"
import { RecordingMounter } from "../../src/testing/recording-mounter.js"
import { GonePods } from "../../src/volume/gone-pods.js"
import { Lifecycle } from "../../src/volume/lifecycle.js"
import { VolumeLocks } from "../../src/volume/locks.js"
import { Tokens } from "../../src/volume/tokens.js"

export const testConfig = (overrides: Partial<DriverConfig> = {}): DriverConfig => ({
  nodeId: "node-1",
  socketPath: "/tmp/csi.sock",
  driverName: "csi.cert-manager.io",
  dataRoot: "/csi-data-dir",
  useTokenRequest: false,
  continueOnNotReady: false,
  metricsAddress: undefined,
  kubeApiQps: 50,
  kubeApiBurst: 100,
  kubeconfig: undefined,
  logLevel: "Error",
  logFormat: "json",
  ...overrides,
})

export interface TestLayerOptions {
  readonly config?: Partial<DriverConfig>
  readonly issuers?: FakeCertificateRequestsOptions["behaviours"]
  /** The live KeyGenerator (fresh keys each time) instead of the one-key-per-spec fake. */
  readonly freshKeys?: boolean
  /** A KeyGenerator of the test's own; wins over `freshKeys`. */
  readonly keys?: Layer.Layer<KeyGenerator>
  /** A Pods of the test's own instead of FakePods. */
  readonly pods?: Layer.Layer<Pods>
}

/** Everything publish, unpublish and recovery need, over fakes. */
export const testLayer = (options: TestLayerOptions = {}) => {
  const services = Layer.mergeAll(
    Config.layer(testConfig(options.config)),
    MemoryVolumeStore.layer,
    RecordingMounter.layer,
    options.keys ?? (options.freshKeys === true ? KeyGenerator.layer : FakeKeyGenerator.layer),
    FakeCertificateRequests.layerWith(options.issuers === undefined ? {} : { behaviours: options.issuers }),
    RecordingPodEvents.layer,
    FakePods.layer,
    Tokens.layer,
    VolumeLocks.layer,
  )
  // A Pods of the test's own wins over FakePods' (the later service in a merge does).
  const withPods = options.pods === undefined ? services : Layer.merge(services, options.pods)
  return GonePods.layer.pipe(Layer.provideMerge(Lifecycle.layer), Layer.provideMerge(withPods))
}

/**
 * A Random that always answers `value`: 0.5 makes Schedule.jittered a no-op
 * (delay × 1) and puts the renewal jitter at half its bound.
 */
export const fixedRandom = (value: number) =>
  Effect.provideService(Random.Random, {
    nextDoubleUnsafe: () => value,
    nextIntUnsafe: () => Math.floor(value * Number.MAX_SAFE_INTEGER),
  })

export const pod: PodInfo = {
  name: "app-0",
  namespace: "team-a",
  uid: "8d1e2f3a-0000-4000-8000-000000000001",
  serviceAccountName: "app",
}

let volumes = 0
/** A fresh kubelet-style volume id per call. */
export const newVolumeId = () => `csi-${(++volumes).toString(16).padStart(8, "0")}`

export const targetPathOf = (volumeId: string) =>
  `/var/lib/kubelet/pods/${pod.uid}/volumes/kubernetes.io~csi/${volumeId}/mount`

/** The attributes kubelet sends for an inline volume, plus the test's. ECDSA keeps key generation cheap. */
export const attributesWith = (attributes: Record<string, string> = {}): Record<string, string> => ({
  [K.IssuerNameKey]: "ca-issuer",
  [K.DnsNamesKey]: "app.team-a.svc",
  [K.KeyAlgorithmKey]: "ECDSA",
  [K.PodNameKey]: pod.name,
  [K.PodNamespaceKey]: pod.namespace,
  [K.PodUidKey]: pod.uid,
  [K.ServiceAccountNameKey]: pod.serviceAccountName,
  [K.EphemeralKey]: "true",
  ...attributes,
})

export const publishRequest = (
  volumeId: string,
  overrides: Partial<PublishRequest> & { readonly with?: Record<string, string> } = {},
): PublishRequest => {
  const { with: attributes, ...rest } = overrides
  return {
    volumeId,
    targetPath: targetPathOf(volumeId),
    attributes: attributesWith(attributes),
    pod,
    volumeMountGroup: undefined,
    token: undefined,
    deadline: undefined,
    ...rest,
  }
}

export const unpublishRequest = (
  volumeId: string,
  targetPath = targetPathOf(volumeId),
): UnpublishRequest => ({
  volumeId,
  targetPath,
  deadline: undefined,
})

export const tokenValid = (expiresAt: Date | undefined, value = "pod-token-value"): ServiceAccountToken => ({
  token: Redacted.make(value),
  expiresAt,
})

/** Polls `check` on the live clock until it holds; fails the test after `within`. */
export const eventually = <E, R>(
  check: Effect.Effect<boolean, E, R>,
  what: string,
  within: Duration.Input = "5 seconds",
): Effect.Effect<void, E, R> =>
  TestClock.withLive(
    Effect.gen(function* () {
      const until = Date.now() + Duration.toMillis(Duration.fromInputUnsafe(within))
      while (!(yield* check)) {
        if (Date.now() > until) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
        yield* Effect.sleep("2 millis")
      }
    }),
  )

/**
 * Lets fibers woken by real async work run to their next suspension (a TestClock
 * sleep, a queue): call before adjusting the clock once the awaited event happened.
 */
export const settle = TestClock.withLive(Effect.sleep("10 millis")).pipe(
  Effect.andThen(Effect.yieldNow),
  Effect.andThen(Effect.yieldNow),
)

/** The volume as the memory store holds it; dies when it is not there. */
export const volumeOf = (volumeId: string) =>
  MemoryVolumeStore.use((store) => store.inspect(volumeId)).pipe(
    Effect.map(
      (v): MemoryVolume =>
        Option.getOrThrowWith(v, () => new Error(`volume ${volumeId} is not in the store`)),
    ),
  )

export const fileText = (volume: MemoryVolume, name: string) => {
  const bytes = volume.files.get(name)
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes)
}

export const submittedCount = FakeCertificateRequests.use((fake) => fake.submitted).pipe(
  Effect.map((all) => all.length),
)

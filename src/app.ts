/**
 * The driver as one Layer: which implementation backs each service, and in what
 * order they start. Real implementations by default; `overrides` lets the demo run
 * without mount privileges and tests swap a part.
 */
import { Layer, References } from "effect"
import { Config, type DriverConfig } from "./config.js"
import { CsiServer } from "./csi/server.js"
import { CertificateRequests } from "./kube/certificate-requests.js"
import { KubeClient } from "./kube/client.js"
import { PodEvents } from "./kube/events.js"
import { Pods } from "./kube/pods.js"
import { Health } from "./observability/health.js"
import { Housekeeping } from "./observability/housekeeping.js"
import { MetricsServer } from "./observability/http.js"
import { loggingLayer } from "./observability/logging.js"
import { KeyGenerator } from "./pki/keys.js"
import { DataRoot } from "./volume/data-root.js"
import { GonePods } from "./volume/gone-pods.js"
import { Lifecycle } from "./volume/lifecycle.js"
import { VolumeLocks } from "./volume/locks.js"
import { Mounter } from "./volume/mounter.js"
import { Recovery } from "./volume/recovery.js"
import { VolumeStore } from "./volume/store.js"
import { Tokens } from "./volume/tokens.js"
import { Volumes } from "./volume/volumes.js"

export interface Overrides {
  readonly mounter?: Layer.Layer<Mounter>
  readonly kubeClient?: Layer.Layer<KubeClient, unknown, Config>
}

export const driverLayer = (config: DriverConfig, overrides: Overrides = {}) => {
  const base = Layer.mergeAll(Config.layer(config), Health.layer, Housekeeping.layer)
  const mounter = overrides.mounter ?? Mounter.layer
  // The data root must be a tmpfs before the store writes anything there.
  const storage = VolumeStore.layer.pipe(Layer.provide(DataRoot), Layer.provideMerge(mounter))
  const kube = Layer.mergeAll(CertificateRequests.layer, PodEvents.layer, Pods.layer).pipe(
    Layer.provide(overrides.kubeClient ?? KubeClient.layer),
  )
  const services = Layer.mergeAll(storage, kube, KeyGenerator.layer, Tokens.layer, VolumeLocks.layer)
  const volumes = Volumes.layer.pipe(Layer.provideMerge(GonePods.layer), Layer.provideMerge(Lifecycle.layer))
  return Layer.mergeAll(CsiServer, Recovery, MetricsServer).pipe(
    Layer.provide(volumes),
    Layer.provide(services),
    Layer.provide(base),
    Layer.provide(loggingLayer(config)),
    // Nothing reads spans (no tracer is exported): Effect.fn's calls then make no-op ones.
    Layer.provide(Layer.succeed(References.TracerEnabled, false)),
  )
}

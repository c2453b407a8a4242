/**
 * Takes a volume down completely: stop its lifecycle (cancelling any renewal or
 * issuance first), take its bind off the target, delete its CertificateRequests,
 * remove its directory and forget its token. Used by unpublish, by a publish that
 * failed, and by recovery for volumes whose pod is gone. Idempotent. Whatever else is
 * at the target (a mount the driver did not make, a file, a directory with contents)
 * stays, with a warning: CSI asks unpublish to succeed, and it is not ours to remove.
 */
import { Effect, Option } from "effect"
import { quoteCut } from "../csi/target-path.js"
import { CertificateRequests } from "../kube/certificate-requests.js"
import type { RequestName } from "../kube/errors.js"
import { Lifecycle } from "./lifecycle.js"
import { Mounter } from "./mounter.js"
import { VolumeStore } from "./store.js"
import { Tokens } from "./tokens.js"

export const removeVolume = Effect.fn("removeVolume")(function* (volumeId: string, targetPath: string) {
  const lifecycle = yield* Lifecycle
  const mounter = yield* Mounter
  const store = yield* VolumeStore
  const requests = yield* CertificateRequests
  yield* lifecycle.stop(volumeId)
  const unbound = yield* mounter.unbind(store.dataDir(volumeId), targetPath)
  if (unbound._tag === "LeftAlone") {
    yield* Effect.logWarning(`left the target path as it is: ${unbound.reason}`).pipe(
      Effect.annotateLogs({ targetPath: quoteCut(targetPath) }),
    )
  }
  // Unreadable metadata must not keep a pod Terminating: the label sweep below still finds its requests.
  const metadata = yield* store.read(volumeId).pipe(Effect.orElseSucceed(() => Option.none()))
  // Names from metadata cover a request the shared watch has not delivered yet.
  const known: Array<RequestName> = Option.match(metadata, {
    onNone: () => [],
    onSome: (m) => [
      ...(m.pendingRequest === undefined ? [] : [m.pendingRequest]),
      ...(m.issuance === undefined ? [] : [{ namespace: m.pod.namespace, name: m.issuance.requestName }]),
    ],
  })
  // Best effort: the requests are owned by the pod and garbage-collected with it anyway.
  yield* Effect.forEach(known, (name) => requests.remove(name), { discard: true }).pipe(
    Effect.andThen(requests.removeForVolume(volumeId)),
    Effect.catch((error) => Effect.logWarning("could not delete the volume's CertificateRequests", error)),
  )
  yield* store.remove(volumeId)
  yield* (yield* Tokens).remove(volumeId)
})

/**
 * Deleting a volume's CertificateRequests, for unpublish and for a volume whose pod is
 * gone: the ones its metadata names (a request the shared watch has not delivered yet)
 * and every one labelled with the volume. Best effort: the requests are owned by the pod
 * and garbage-collected with it anyway, so a failure is logged, never returned.
 */
import { Effect, Option } from "effect"
import { CertificateRequests } from "../kube/certificate-requests.js"
import type { RequestName } from "../kube/errors.js"
import { VolumeStore } from "./store.js"

export const deleteVolumeRequests = Effect.fnUntraced(function* (volumeId: string) {
  const store = yield* VolumeStore
  const requests = yield* CertificateRequests
  // Unreadable metadata must not keep a pod Terminating: the label sweep below still finds its requests.
  const metadata = yield* store.read(volumeId).pipe(Effect.orElseSucceed(() => Option.none()))
  const known: Array<RequestName> = Option.match(metadata, {
    onNone: () => [],
    onSome: (m) => [
      ...(m.pendingRequest === undefined ? [] : [m.pendingRequest]),
      ...(m.issuance?.requestName === undefined
        ? []
        : [{ namespace: m.pod.namespace, name: m.issuance.requestName }]),
    ],
  })
  yield* Effect.forEach(known, (name) => requests.remove(name), { discard: true }).pipe(
    Effect.andThen(requests.removeForVolume(volumeId)),
    Effect.catch((error) => Effect.logWarning("could not delete the volume's CertificateRequests", error)),
  )
})

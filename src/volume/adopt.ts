/**
 * A replaced data root never strands a running pod (upstream csi-lib #74). A container
 * sees its volume through its own bind of the target, made when it started: a mount
 * placed on the target later never reaches it, only files written into the filesystem
 * it already sees. So when the driver's tmpfs was replaced (unmounted, a new one in its
 * place) while pods ran, the earlier tmpfs must stay where the driver writes for their
 * volumes. On the volume's next publish (kubelet republishes with `requiresRepublish`,
 * and after its own restart), the stale target's directory is bound back, writable, as
 * the volume's data directory under the new root (Mounter.adoptEarlier), and the files
 * there say when the next renewal is due: renewals then land where the container reads.
 * What the lost tmpfs held besides is rebuilt from the publish (metadata and the PKCS#12
 * password, from volume_context); a pending key is lost, so a request that was in flight
 * is replaced, and swept with the volume's other stale requests at the next issuance.
 */
import { Effect, Option, Redacted } from "effect"
import { checkIssued, KeyGenerator } from "../pki/index.js"
import { StorageError } from "./errors.js"
import { issuanceOf } from "./issue.js"
import { Mounter } from "./mounter.js"
import { specOf } from "./record.js"
import { VolumeStore } from "./store.js"

/** True when the volume's data was taken back from an earlier data root: its target holds it already. */
export const adoptEarlierData = Effect.fnUntraced(function* (volumeId: string, targetPath: string) {
  const mounter = yield* Mounter
  const store = yield* VolumeStore
  if (!(yield* mounter.adoptEarlier(store.dataDir(volumeId), targetPath))) return false
  const kept = yield* Effect.result(issuanceOfFiles(volumeId))
  if (kept._tag === "Success") {
    yield* store.update(volumeId, (m) => ({ ...m, issuance: kept.success }))
    yield* Effect.logInfo(
      "took the volume's files back from an earlier data root; renewals go on there",
    ).pipe(
      Effect.annotateLogs({ notAfter: kept.success.notAfter, nextIssuanceAt: kept.success.nextIssuanceAt }),
    )
  } else {
    yield* Effect.logWarning(
      `took the volume's files back from an earlier data root; they cannot be kept (${kept.failure.message}), so a new certificate is issued there now`,
    )
  }
  return true
})

/** What the files in the volume's data directory hold, checked as an issuer's answer is: key, certificate and chain. */
const issuanceOfFiles = Effect.fnUntraced(function* (volumeId: string) {
  const store = yield* VolumeStore
  const keys = yield* KeyGenerator
  const metadata = yield* store.read(volumeId)
  if (Option.isNone(metadata)) {
    return yield* new StorageError({ operation: "adopt", path: volumeId, reason: "volume is not registered" })
  }
  const spec = yield* specOf(metadata.value)
  const text = (name: string) =>
    store.readFile(volumeId, name).pipe(
      Effect.flatMap(
        Option.match({
          onNone: () =>
            Effect.fail(
              new StorageError({ operation: "adopt", path: store.dataDir(volumeId), reason: `no ${name}` }),
            ),
          onSome: (bytes) => Effect.succeed(new TextDecoder().decode(bytes)),
        }),
      ),
    )
  const key = yield* keys.parse(Redacted.make(yield* text(spec.files.privateKey)), spec.key)
  const issued = yield* checkIssued(yield* text(spec.files.certificate), yield* text(spec.files.ca), key)
  return yield* issuanceOf(issued, spec, undefined)
})

/**
 * Start-up recovery over fakes: issued volumes get their renewal scheduled, a
 * request in flight is resumed rather than replaced, and what belongs to no pod
 * (directories without metadata, volumes whose target is unmounted and whose
 * kubelet directory is gone) is removed. The kubelet-directory check reads the real
 * filesystem, so target paths live in a temp dir.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as K from "../../src/attributes/keys.js"
import { parseAttributes } from "../../src/attributes/parse.js"
import { CertificateRequests } from "../../src/kube/certificate-requests.js"
import { buildCsr } from "../../src/pki/csr.js"
import { KeyGenerator } from "../../src/pki/keys.js"
import { FakeCertificateRequests } from "../../src/testing/fake-certificate-requests.js"
import { IssuerBehaviour } from "../../src/testing/issuer/behaviour.js"
import { MemoryVolumeStore } from "../../src/testing/memory-store.js"
import { RecordingMounter } from "../../src/testing/recording-mounter.js"
import { Lifecycle } from "../../src/volume/lifecycle.js"
import { Mounter } from "../../src/volume/mounter.js"
import { recordOf, secretFiles } from "../../src/volume/record.js"
import { recoverVolumes } from "../../src/volume/recovery.js"
import { type VolumeMetadata, VolumeStore } from "../../src/volume/store.js"
import { tempDir } from "../support/openssl.js"
import {
  attributesWith,
  eventually,
  fileText,
  newVolumeId,
  pod,
  publishRequest,
  settle,
  submittedCount,
  testLayer,
  volumeOf,
} from "./programs-support.js"

const kubelet = tempDir()
afterAll(() => kubelet.cleanup())

/** A target path under the temp "kubelet" dir; its parent (kubelet's volume dir) exists when `present`. */
const targetFor = (volumeId: string, present: boolean) => {
  const volumeDir = path.join(kubelet.dir, "pods", pod.uid, "volumes", "kubernetes.io~csi", volumeId)
  if (present) fs.mkdirSync(volumeDir, { recursive: true })
  return path.join(volumeDir, "mount")
}

/** What an earlier driver run left in the store for a volume. */
const registered = (volumeId: string, targetPath: string, attributes: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const store = yield* VolumeStore
    const metadata = recordOf(
      publishRequest(volumeId, { targetPath, with: attributes }),
      new Date(0),
    ).metadata
    yield* store.register(metadata)
    return metadata
  })

const withIssuance = (
  metadata: VolumeMetadata,
  requestName: string,
  nextIssuanceAt: number,
): VolumeMetadata => ({
  ...metadata,
  issuance: {
    requestName,
    notBefore: new Date(0).toISOString(),
    notAfter: new Date(3 * nextIssuanceAt).toISOString(),
    nextIssuanceAt: new Date(nextIssuanceAt).toISOString(),
  },
})

/** A request an earlier run created for the volume: its key and name, as `issue` records them. */
const requestInFlight = (volumeId: string, attributes: Record<string, string>) =>
  Effect.gen(function* () {
    const spec = yield* parseAttributes(attributesWith(attributes), pod)
    const key = yield* (yield* KeyGenerator).generate(spec.key)
    const csrPem = yield* buildCsr(spec, key)
    const requests = yield* CertificateRequests
    const name = yield* requests.newName
    yield* requests.submit({ name, volumeId, pod, spec, csrPem, token: undefined })
    return { key, request: { namespace: pod.namespace, name } }
  })

describe("recovery", () => {
  it.effect("schedules the renewal of an issued volume", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      const metadata = yield* registered(id, targetFor(id, true))
      const store = yield* VolumeStore
      yield* store.update(id, (m) => withIssuance(m, "earlier-request", 3_600_000))

      yield* recoverVolumes
      const lifecycle = yield* Lifecycle
      assert.strictEqual(yield* lifecycle.size, 1)
      assert.strictEqual(Option.getOrThrow(yield* lifecycle.state(id))._tag, "Issued")
      yield* settle
      yield* TestClock.adjust(3_600_000 - 1)
      yield* settle
      assert.strictEqual(yield* submittedCount, 0)
      yield* TestClock.adjust(1)
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 1),
        "the renewal",
      )
      assert.strictEqual(yield* submittedCount, 1)
      assert.strictEqual(Option.getOrThrow((yield* volumeOf(id)).metadata).targetPath, metadata.targetPath)
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("resumes a recorded request that still exists, with its key, without a new request", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      const later = { [K.IssuerNameKey]: "later" }
      yield* registered(id, targetFor(id, true), later)
      const { key, request } = yield* requestInFlight(id, later)
      const store = yield* VolumeStore
      yield* store.writeSecret(id, secretFiles.pendingKey, key.pem)
      yield* store.update(id, (m) => ({ ...m, pendingRequest: request }))

      yield* recoverVolumes
      yield* settle
      const fake = yield* FakeCertificateRequests
      assert.strictEqual(yield* submittedCount, 1)
      yield* fake.setBehaviour("later", IssuerBehaviour.sign())
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 1),
        "the resumed issuance",
      )

      const volume = yield* volumeOf(id)
      assert.strictEqual(yield* submittedCount, 1)
      assert.strictEqual(fileText(volume, "tls.key"), Redacted.value(key.pem))
      const metadata = Option.getOrThrow(volume.metadata)
      assert.strictEqual(metadata.issuance?.requestName, request.name)
      assert.strictEqual(metadata.pendingRequest, undefined)
      assert.isFalse(volume.secrets.has(secretFiles.pendingKey))
    }).pipe(Effect.provide(testLayer({ freshKeys: true, issuers: { later: IssuerBehaviour.pending() } }))),
  )

  it.effect("makes a new request when the recorded one is gone", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      yield* registered(id, targetFor(id, true))
      const store = yield* VolumeStore
      yield* store.writeSecret(id, secretFiles.pendingKey, Redacted.make("not a key"))
      yield* store.update(id, (m) => ({
        ...m,
        pendingRequest: { namespace: pod.namespace, name: "vanished" },
      }))

      yield* recoverVolumes
      yield* eventually(
        Effect.map(volumeOf(id), (v) => v.generation === 1),
        "the new issuance",
      )
      const fake = yield* FakeCertificateRequests
      const submitted = yield* fake.submitted
      assert.strictEqual(submitted.length, 1)
      assert.notStrictEqual(submitted[0]?.name, "vanished")
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect("removes directories without metadata", () =>
    Effect.gen(function* () {
      const store = yield* MemoryVolumeStore
      const kept = newVolumeId()
      yield* registered(kept, targetFor(kept, true))
      yield* store.corruptMetadata("csi-orphan")
      assert.deepStrictEqual(yield* store.volumeIds, [kept, "csi-orphan"].sort())
      yield* recoverVolumes
      assert.deepStrictEqual(yield* store.volumeIds, [kept])
    }).pipe(Effect.provide(testLayer())),
  )

  it.effect(
    "removes a volume whose target is unmounted and whose kubelet directory is gone, with its requests",
    () =>
      Effect.gen(function* () {
        const id = newVolumeId()
        const targetPath = targetFor(id, false)
        yield* registered(id, targetPath)
        const { request } = yield* requestInFlight(id, {})
        const store = yield* VolumeStore
        yield* store.update(id, (m) => withIssuance(m, request.name, 3_600_000))

        yield* recoverVolumes
        const memory = yield* MemoryVolumeStore
        const fake = yield* FakeCertificateRequests
        const lifecycle = yield* Lifecycle
        assert.deepStrictEqual(yield* memory.volumeIds, [])
        assert.deepStrictEqual(yield* fake.live(id), [])
        assert.deepStrictEqual(yield* fake.removed, [request])
        assert.strictEqual(yield* lifecycle.size, 0)
        yield* TestClock.adjust("2 hours")
        yield* settle
        assert.strictEqual(yield* submittedCount, 1)
      }).pipe(Effect.provide(testLayer())),
  )

  it.effect("keeps a volume whose target is still mounted, even if the kubelet directory is gone", () =>
    Effect.gen(function* () {
      const id = newVolumeId()
      const targetPath = targetFor(id, false)
      yield* registered(id, targetPath)
      const store = yield* VolumeStore
      yield* store.update(id, (m) => withIssuance(m, "earlier-request", 3_600_000))
      const mounter = yield* Mounter
      yield* mounter.bindReadOnly(store.dataDir(id), targetPath)

      yield* recoverVolumes
      const memory = yield* MemoryVolumeStore
      assert.deepStrictEqual(yield* memory.volumeIds, [id])
      assert.strictEqual(yield* (yield* Lifecycle).size, 1)
      assert.strictEqual((yield* (yield* RecordingMounter).mounts).size, 1)
    }).pipe(Effect.provide(testLayer())),
  )
})

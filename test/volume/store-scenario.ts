/**
 * One VolumeStore scenario run against the live store and the in-memory fake: both
 * must produce the same transcript (results, and failures as tag + operation).
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { assert } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { type VolumeMetadata, VolumeStore } from "../../src/volume/store.js"

export const sampleMetadata = (volumeId: string): VolumeMetadata => ({
  volumeId,
  targetPath: `/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~csi/${volumeId}/mount`,
  pod: { name: "web-0", namespace: "apps", uid: "uid-1", serviceAccountName: "web" },
  attributes: { "csi.cert-manager.io/issuer-name": "ca", "csi.cert-manager.io/dns-names": "web.apps.svc" },
  createdAt: "2026-11-26T15:00:00.000Z",
})

const text = (bytes: Option.Option<Uint8Array>) =>
  Option.getOrUndefined(Option.map(bytes, (b) => new TextDecoder().decode(b)))

/** Runs `effect`; a failure becomes `{ error: tag, operation }` so transcripts compare. */
const outcome = <A, E extends { readonly _tag: string; readonly operation: string }, R>(
  effect: Effect.Effect<A, E, R>,
) =>
  effect.pipe(
    Effect.map((value) => ({ ok: value as unknown })),
    Effect.catch((error) => Effect.succeed({ error: error._tag, operation: error.operation })),
  )

/** `corrupt` makes a volume's metadata unreadable by whatever means the implementation has. */
export const storeScenario = (corrupt: (volumeId: string) => Effect.Effect<void>) =>
  Effect.gen(function* () {
    const store = yield* VolumeStore
    const log: Array<readonly [string, unknown]> = []
    const step = (name: string, value: unknown) => log.push([name, value])

    step("read absent", yield* outcome(store.read("vol-a")))
    step("register", yield* outcome(store.register(sampleMetadata("vol-a"))))
    step("read", yield* outcome(store.read("vol-a").pipe(Effect.map(Option.getOrUndefined))))
    step(
      "update",
      yield* outcome(
        store.update("vol-a", (m) => ({
          ...m,
          pendingRequest: { namespace: "apps", name: "req-1" },
        })),
      ),
    )
    step(
      "update issuance",
      yield* outcome(
        store.update("vol-a", ({ pendingRequest: _, ...m }) => ({
          ...m,
          issuance: {
            requestName: "req-1",
            notBefore: "2026-11-26T15:00:00Z",
            notAfter: "2026-11-27T15:00:00Z",
            nextIssuanceAt: "2026-11-27T07:00:00Z",
          },
        })),
      ),
    )
    step("update changing id", yield* outcome(store.update("vol-a", (m) => ({ ...m, volumeId: "vol-z" }))))
    step("update unregistered", yield* outcome(store.update("vol-none", (m) => m)))
    step("invalid ids", [
      yield* outcome(store.read("..")),
      yield* outcome(store.register(sampleMetadata("a/b"))),
      yield* outcome(store.remove(".")),
      yield* outcome(store.writeFiles("", [], undefined)),
    ])

    step(
      "files of unregistered",
      yield* outcome(store.writeFiles("vol-none", [{ name: "x", data: "x" }], undefined)),
    )
    step(
      "read file before any set",
      yield* outcome(store.readFile("vol-a", "tls.crt").pipe(Effect.map(text))),
    )
    step(
      "write set 1",
      yield* outcome(
        store.writeFiles(
          "vol-a",
          [
            { name: "tls.crt", data: "cert-1" },
            { name: "tls.key", data: new TextEncoder().encode("key-1") },
            { name: "ca.crt", data: "ca-1" },
          ],
          undefined,
        ),
      ),
    )
    step("read tls.crt", yield* outcome(store.readFile("vol-a", "tls.crt").pipe(Effect.map(text))))
    step(
      "write set 2",
      yield* outcome(
        store.writeFiles(
          "vol-a",
          [
            { name: "tls.crt", data: "cert-2" },
            { name: "tls.key", data: "key-2" },
          ],
          undefined,
        ),
      ),
    )
    step("read after set 2", [
      yield* outcome(store.readFile("vol-a", "tls.crt").pipe(Effect.map(text))),
      yield* outcome(store.readFile("vol-a", "ca.crt").pipe(Effect.map(text))),
    ])
    step("bad file names", [
      yield* outcome(store.writeFiles("vol-a", [{ name: "../escape", data: "x" }], undefined)),
      yield* outcome(store.writeFiles("vol-a", [{ name: "..data", data: "x" }], undefined)),
      yield* outcome(
        store.writeFiles(
          "vol-a",
          [
            { name: "dup", data: "x" },
            { name: "dup", data: "y" },
          ],
          undefined,
        ),
      ),
      yield* outcome(store.readFile("vol-a", "..")),
    ])
    step(
      "set 2 intact after refused writes",
      yield* outcome(store.readFile("vol-a", "tls.key").pipe(Effect.map(text))),
    )

    step("secret absent", yield* outcome(store.readSecret("vol-a", "pending-key")))
    step(
      "secret write",
      yield* outcome(store.writeSecret("vol-a", "pending-key", Redacted.make("PRIVATE KEY"))),
    )
    step(
      "secret read",
      yield* outcome(store.readSecret("vol-a", "pending-key").pipe(Effect.map(Option.map(Redacted.value)))),
    )
    step("secret bad names", [
      yield* outcome(store.writeSecret("vol-a", "data", Redacted.make("x"))),
      yield* outcome(store.writeSecret("vol-a", "metadata.json", Redacted.make("x"))),
      yield* outcome(store.writeSecret("vol-a", ".hidden", Redacted.make("x"))),
      yield* outcome(store.readSecret("vol-a", "../vol-b")),
    ])
    step("secret unregistered", yield* outcome(store.writeSecret("vol-none", "k", Redacted.make("x"))))
    step("secret remove", [
      yield* outcome(store.removeSecret("vol-a", "pending-key")),
      yield* outcome(store.removeSecret("vol-a", "pending-key")),
      yield* outcome(store.readSecret("vol-a", "pending-key")),
    ])

    step("register b", yield* outcome(store.register(sampleMetadata("vol-b"))))
    yield* corrupt("vol-c")
    step(
      "list",
      yield* outcome(
        store
          .list()
          .pipe(Effect.map(({ volumes, orphans }) => ({ volumes: volumes.map((v) => v.volumeId), orphans }))),
      ),
    )
    step("read corrupt", yield* outcome(store.read("vol-c")))
    step("re-register corrupt", yield* outcome(store.register(sampleMetadata("vol-c"))))
    step("read repaired", yield* outcome(store.read("vol-c").pipe(Effect.map(Option.isSome))))
    step("remove", [yield* outcome(store.remove("vol-a")), yield* outcome(store.remove("vol-a"))])
    step("read removed", [
      yield* outcome(store.read("vol-a")),
      yield* outcome(store.readFile("vol-a", "tls.crt").pipe(Effect.map(text))),
    ])
    step(
      "list after remove",
      yield* outcome(
        store
          .list()
          .pipe(Effect.map(({ volumes, orphans }) => ({ volumes: volumes.map((v) => v.volumeId), orphans }))),
      ),
    )
    return log
  })

/** The layout of one written file set: data/ and its generation 0550, files 0440 behind `..data/<name>` links; returns the generation. */
export const assertFileSetLayout = (dataDir: string, names: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const mode = (file: string) => Effect.promise(async () => (await fs.lstat(file)).mode & 0o7777)
    const generation = yield* Effect.promise(() => fs.readlink(path.join(dataDir, "..data")))
    assert.strictEqual(yield* mode(dataDir), 0o550)
    assert.strictEqual(yield* mode(path.join(dataDir, generation)), 0o550)
    for (const name of names) {
      assert.strictEqual(yield* mode(path.join(dataDir, generation, name)), 0o440)
      assert.strictEqual(yield* Effect.promise(() => fs.readlink(path.join(dataDir, name))), `..data/${name}`)
    }
    return generation
  })

/**
 * One Mounter scenario run against the live Mounter (in a private mount namespace, by
 * mount-fixture.ts) and against RecordingMounter: both must give the same transcript.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import { Mounter } from "../../src/volume/mounter.js"

export const mountScenario = (base: string) =>
  Effect.gen(function* () {
    const mounter = yield* Mounter
    const root = path.join(base, "root")
    const source = path.join(root, "vol-1", "data")
    const target = path.join(base, "pods", "uid-1", "mount")
    const log: Array<readonly [string, unknown]> = []
    const step = (name: string, value: unknown) => log.push([name, value])

    step("root before", yield* mounter.isMountPoint(root))
    yield* mounter.ensureTmpfs(root)
    step("root after ensureTmpfs", yield* mounter.isMountPoint(root))
    yield* mounter.ensureTmpfs(root)
    step("root after second ensureTmpfs", yield* mounter.isMountPoint(root))

    yield* Effect.promise(() => fs.mkdir(source, { recursive: true }))
    step("target before", yield* mounter.isMountPoint(target))
    yield* mounter.bindReadOnly(source, target)
    step("target after bind", yield* mounter.isMountPoint(target))
    yield* mounter.bindReadOnly(source, target)
    step("target after second bind", yield* mounter.isMountPoint(target))

    yield* mounter.unmount(target)
    step("target after unmount", yield* mounter.isMountPoint(target))
    yield* mounter.unmount(target)
    yield* mounter.unmount(path.join(base, "never", "there"))
    step("unmount is idempotent", true)

    yield* mounter.unmount(root)
    step("root after unmount", yield* mounter.isMountPoint(root))
    return log
  })

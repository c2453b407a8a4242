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
    const other = path.join(root, "vol-2", "data")
    const target = path.join(base, "pods", "uid-1", "mount")
    const log: Array<readonly [string, unknown]> = []
    const step = (name: string, value: unknown) => log.push([name, value])

    step("root before", yield* mounter.isMountPoint(root))
    yield* mounter.ensureTmpfs(root)
    step("root after ensureTmpfs", yield* mounter.isMountPoint(root))
    yield* mounter.ensureTmpfs(root)
    step("root after second ensureTmpfs", yield* mounter.isMountPoint(root))

    yield* Effect.promise(() => fs.mkdir(source, { recursive: true }))
    const kindOf = (p: string) => Effect.map(mounter.inspect(p), (state) => state.kind)
    step("target before", yield* kindOf(target))
    step("bound before", yield* mounter.isBound(source, target))
    yield* mounter.bindReadOnly(source, target)
    step("target after bind", yield* mounter.isMountPoint(target))
    step("bound after bind", yield* mounter.isBound(source, target))
    step("another source bound", yield* mounter.isBound(other, target))
    yield* mounter.bindReadOnly(source, target)
    step("target after second bind", yield* mounter.isMountPoint(target))

    step("unbind of another source", (yield* mounter.unbind(other, target))._tag)
    step("target after it", yield* kindOf(target))
    step("unbind", (yield* mounter.unbind(source, target))._tag)
    step("target after unbind", yield* kindOf(target))
    step("bound after unbind", yield* mounter.isBound(source, target))
    step("unbind again", (yield* mounter.unbind(source, target))._tag)
    step("unbind of nothing", (yield* mounter.unbind(source, path.join(base, "never", "there")))._tag)
    return log
  })

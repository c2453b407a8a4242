/**
 * Runs the live Mounter for mounter.test.ts inside a private mount namespace:
 *   unshare -m --propagation private node_modules/.bin/node test/volume/mount-fixture.ts <scenario> <base-dir> [auto|syscall|command]
 * and prints one JSON object: `{ "ok": facts }` or `{ "failure": message }`. Node runs
 * this file directly (type stripping), so a resolve hook maps our `.js` imports to `.ts`.
 */
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import * as fs from "node:fs/promises"
import { registerHooks } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import type * as EffectType from "effect/Effect"
import type { Mounter as MounterService, MountVia } from "../../src/volume/mounter.js"

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier.startsWith(".") && specifier.endsWith(".js") && context.parentURL !== undefined) {
      const asTs = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL)
      if (
        !existsSync(fileURLToPath(new URL(specifier, context.parentURL))) &&
        existsSync(fileURLToPath(asTs))
      ) {
        return nextResolve(asTs.href, context)
      }
    }
    return nextResolve(specifier, context)
  },
})

const { Effect } = await import("effect")
const { Mounter } = await import("../../src/volume/mounter.js")
const { mountsAt, parseMountInfo } = await import("../../src/volume/mountinfo.js")
const { probeDataRoot } = await import("../../src/volume/store.js")
const { mountScenario } = await import("./mount-scenario.js")

const [scenario = "", base = "", via = "auto"] = process.argv.slice(2)
const sh = promisify(execFile)

/** What the kernel has mounted at `target` right now (bottom first). */
const mountsOn = async (target: string) =>
  mountsAt(parseMountInfo(await fs.readFile("/proc/self/mountinfo", "utf8")), target).map((m) => ({
    fsType: m.fsType,
    mountOptions: m.mountOptions,
    superOptions: m.superOptions,
  }))

const errorCode = (run: () => Promise<unknown>) =>
  run().then(
    () => "no error",
    (error: NodeJS.ErrnoException) => error.code ?? String(error),
  )

const exists = (target: string) =>
  fs.access(target).then(
    () => true,
    () => false,
  )

const root = path.join(base, "root")
const source = path.join(root, "vol-1", "data")
const target = path.join(base, "pods", "uid-1", "volumes", "mount")
const badTarget = path.join(base, "pods", "uid-2", "mount")

const scenarios = {
  tmpfs: Effect.gen(function* () {
    const mounter = yield* Mounter
    const before = yield* mounter.isMountPoint(root)
    yield* mounter.ensureTmpfs(root)
    const first = yield* Effect.promise(() => mountsOn(root))
    yield* mounter.ensureTmpfs(root)
    const second = yield* Effect.promise(() => mountsOn(root))
    const rootMode = (yield* Effect.promise(() => fs.stat(root))).mode & 0o777
    return { before, after: yield* mounter.isMountPoint(root), first, second, rootMode }
  }),

  bind: Effect.gen(function* () {
    const mounter = yield* Mounter
    yield* mounter.ensureTmpfs(root)
    yield* Effect.promise(async () => {
      await fs.mkdir(source, { recursive: true })
      await fs.writeFile(path.join(source, "tls.crt"), "cert-1")
    })
    yield* mounter.bindReadOnly(source, target)
    const first = yield* Effect.promise(() => mountsOn(target))
    const readThrough = yield* Effect.promise(() => fs.readFile(path.join(target, "tls.crt"), "utf8"))
    const writeThrough = yield* Effect.promise(() =>
      errorCode(() => fs.writeFile(path.join(target, "evil"), "x")),
    )
    const chmodThrough = yield* Effect.promise(() =>
      errorCode(() => fs.chmod(path.join(target, "tls.crt"), 0o777)),
    )
    yield* Effect.promise(() => fs.writeFile(path.join(source, "later"), "written after the bind"))
    const laterThrough = yield* Effect.promise(() => fs.readFile(path.join(target, "later"), "utf8"))
    yield* mounter.bindReadOnly(source, target)
    const second = yield* Effect.promise(() => mountsOn(target))
    const parentMode = (yield* Effect.promise(() => fs.stat(path.dirname(target)))).mode & 0o777

    const failure = yield* Effect.flip(mounter.bindReadOnly(path.join(base, "no-such-source"), badTarget))
    const badTargetMounted = yield* mounter.isMountPoint(badTarget)
    return {
      first,
      second,
      readThrough,
      writeThrough,
      chmodThrough,
      laterThrough,
      parentMode,
      failure: { tag: failure._tag, message: failure.message },
      badTargetMounted,
    }
  }),

  /** prepareBind makes and checks the target at once and mounts only when its result runs. */
  prepare: Effect.gen(function* () {
    const mounter = yield* Mounter
    yield* mounter.ensureTmpfs(root)
    yield* Effect.promise(() => fs.mkdir(source, { recursive: true }))
    const bind = yield* mounter.prepareBind(source, target)
    const prepared = {
      targetExists: yield* Effect.promise(() => exists(target)),
      mounted: yield* mounter.isMountPoint(target),
    }
    yield* bind
    const mounts = (yield* Effect.promise(() => mountsOn(target))).length
    // Prepared again once mounted, there is nothing left to do: running it stacks nothing.
    yield* Effect.flatten(mounter.prepareBind(source, target))
    const failure = yield* Effect.flip(mounter.prepareBind(path.join(base, "no-such-source"), badTarget))
    return {
      prepared,
      mounts,
      mountsAfterSecond: (yield* Effect.promise(() => mountsOn(target))).length,
      failure: failure.message,
      badTargetMounted: yield* mounter.isMountPoint(badTarget),
    }
  }),

  unmount: Effect.gen(function* () {
    const mounter = yield* Mounter
    yield* mounter.ensureTmpfs(root)
    yield* Effect.promise(async () => {
      await fs.mkdir(source, { recursive: true })
      await fs.writeFile(path.join(source, "tls.crt"), "cert-1")
    })
    yield* mounter.bindReadOnly(source, target)
    yield* mounter.unmount(target)
    const afterUnmount = {
      mounts: yield* Effect.promise(() => mountsOn(target)),
      targetExists: yield* Effect.promise(() => exists(target)),
      sourceIntact: yield* Effect.promise(() => fs.readFile(path.join(source, "tls.crt"), "utf8")),
    }
    yield* mounter.unmount(target)
    yield* mounter.unmount(path.join(base, "never", "there"))

    // two binds stacked on one target (e.g. a retried mount by someone else): all go
    const stacked = path.join(base, "stacked")
    yield* Effect.promise(async () => {
      await fs.mkdir(stacked)
      await sh("mount", ["--bind", source, stacked])
      await sh("mount", ["--bind", source, stacked])
    })
    const stackedBefore = (yield* Effect.promise(() => mountsOn(stacked))).length
    yield* mounter.unmount(stacked)
    const stackedAfter = {
      mounts: (yield* Effect.promise(() => mountsOn(stacked))).length,
      exists: yield* Effect.promise(() => exists(stacked)),
    }

    // a directory that is not a mount point but holds files is left alone: rmdir, not rm -rf
    const full = path.join(base, "full")
    yield* Effect.promise(async () => {
      await fs.mkdir(full)
      await fs.writeFile(path.join(full, "keep"), "x")
    })
    const notEmpty = yield* Effect.flip(mounter.unmount(full))
    const fullKept = yield* Effect.promise(() => exists(path.join(full, "keep")))

    yield* mounter.unmount(root)
    return {
      afterUnmount,
      stackedBefore,
      stackedAfter,
      notEmpty: { tag: notEmpty._tag, message: notEmpty.message },
      fullKept,
      rootMounted: yield* mounter.isMountPoint(root),
    }
  }),

  /** The data-root liveness probe on a read-only bind of the root, and on the root itself. */
  "health-ro": Effect.gen(function* () {
    const mounter = yield* Mounter
    const readOnly = path.join(base, "ro-root")
    yield* mounter.ensureTmpfs(root)
    yield* mounter.bindReadOnly(root, readOnly)
    const onReadOnly = yield* Effect.result(probeDataRoot(readOnly))
    const onRoot = yield* Effect.result(probeDataRoot(root))
    return {
      readOnly: onReadOnly._tag === "Failure" ? onReadOnly.failure : "passed",
      root: onRoot._tag === "Failure" ? onRoot.failure : "passed",
    }
  }),

  parity: mountScenario(base),
}

const program: EffectType.Effect<unknown, unknown, MounterService> | undefined =
  scenarios[scenario as keyof typeof scenarios]
if (program === undefined || base === "") {
  process.stdout.write(
    `${JSON.stringify({ failure: `usage: mount-fixture.ts <${Object.keys(scenarios).join("|")}> <base-dir> [auto|syscall|command]` })}\n`,
  )
} else {
  const exit = await Effect.runPromiseExit(program.pipe(Effect.provide(Mounter.layerVia(via as MountVia))))
  const result = exit._tag === "Success" ? { ok: exit.value } : { failure: String(exit.cause) }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

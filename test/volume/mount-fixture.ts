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
import * as net from "node:net"
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

const { Effect, Result } = await import("effect")
const { loadMountAddon } = await import("../../src/volume/mount-syscalls.js")
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

  unbind: Effect.gen(function* () {
    const mounter = yield* Mounter
    const mounted = async (target: string) => (await mountsOn(target)).length
    yield* mounter.ensureTmpfs(root)
    yield* Effect.promise(async () => {
      await fs.mkdir(source, { recursive: true })
      await fs.writeFile(path.join(source, "tls.crt"), "cert-1")
    })
    yield* mounter.bindReadOnly(source, target)
    const first = yield* mounter.unbind(source, target)
    const afterUnbind = {
      outcome: first,
      mounts: yield* Effect.promise(() => mountsOn(target)),
      targetExists: yield* Effect.promise(() => exists(target)),
      sourceIntact: yield* Effect.promise(() => fs.readFile(path.join(source, "tls.crt"), "utf8")),
    }
    const again = [
      yield* mounter.unbind(source, target),
      yield* mounter.unbind(source, path.join(base, "never", "there")),
    ]

    // two binds stacked on one target (e.g. a retried mount by someone else): both go
    const stacked = path.join(base, "stacked")
    yield* Effect.promise(async () => {
      await fs.mkdir(stacked)
      await sh("mount", ["--bind", source, stacked])
      await sh("mount", ["--bind", source, stacked])
    })
    const stackedBefore = yield* Effect.promise(() => mounted(stacked))
    yield* mounter.unbind(source, stacked)
    const stackedAfter = {
      mounts: yield* Effect.promise(() => mounted(stacked)),
      exists: yield* Effect.promise(() => exists(stacked)),
    }

    /** Unbinds `source` from `at` and says what is left there. */
    const leftAt = (at: string, from = source) =>
      Effect.gen(function* () {
        const outcome = yield* mounter.unbind(from, at)
        return {
          outcome,
          mounts: yield* Effect.promise(() => mounted(at)),
          exists: yield* Effect.promise(() => exists(at)),
        }
      })

    // a mount the driver did not make: a tmpfs of its own, on an empty target
    const foreign = path.join(base, "foreign")
    yield* Effect.promise(async () => {
      await fs.mkdir(foreign)
      await sh("mount", ["-t", "tmpfs", "tmpfs", foreign])
    })
    // ours underneath someone else's: the one on top decides
    const covered = path.join(base, "covered")
    yield* mounter.bindReadOnly(source, covered)
    yield* Effect.promise(() => sh("mount", ["-t", "tmpfs", "tmpfs", covered]))
    // another volume's bind
    const otherSource = path.join(root, "vol-2", "data")
    const other = path.join(base, "other")
    yield* Effect.promise(() => fs.mkdir(otherSource, { recursive: true }))
    yield* mounter.bindReadOnly(otherSource, other)
    // a directory that is not a mount point but holds files: rmdir, not rm -rf
    const full = path.join(base, "full")
    yield* Effect.promise(async () => {
      await fs.mkdir(full)
      await fs.writeFile(path.join(full, "keep"), "x")
    })
    const file = path.join(base, "file")
    yield* Effect.promise(() => fs.writeFile(file, "x"))

    return {
      afterUnbind,
      again,
      stackedBefore,
      stackedAfter,
      foreign: yield* leftAt(foreign),
      covered: yield* leftAt(covered),
      other: yield* leftAt(other),
      full: { ...(yield* leftAt(full)), kept: yield* Effect.promise(() => exists(path.join(full, "keep"))) },
      file: yield* leftAt(file),
      // the data root itself, as a target: its tmpfs is not a bind of a volume
      root: { ...(yield* leftAt(root)), sourceIntact: yield* Effect.promise(() => exists(source)) },
    }
  }),

  /**
   * Binds whose source sits below the root of its tmpfs (a data root that is a directory
   * of the node's /tmp), and a bind kept from an earlier tmpfs of the data root: each is
   * recognised as the volume's own and taken off.
   */
  "unbind-roots": Effect.gen(function* () {
    const mounter = yield* Mounter
    const host = path.join(base, "host")
    const sub = path.join(host, "sub")
    yield* mounter.ensureTmpfs(host)
    yield* Effect.promise(() => fs.mkdir(sub))
    // the data root: a bind of host/sub, so mountinfo shows its files under /sub
    yield* Effect.promise(async () => {
      await fs.mkdir(root)
      await sh("mount", ["--bind", sub, root])
      await fs.mkdir(source, { recursive: true })
    })
    yield* mounter.bindReadOnly(source, target)
    const shown = (yield* Effect.promise(() => fs.readFile("/proc/self/mountinfo", "utf8")))
      .split("\n")
      .filter((line) => line.includes(` ${target} `))
      .map((line) => line.split(" ")[3])
    const belowRoot = yield* mounter.unbind(source, target)
    const belowRootLeft = (yield* Effect.promise(() => mountsOn(target))).length

    // a whole tmpfs as the data root, a pod's bind of it, then the data root replaced
    const earlier = path.join(base, "earlier")
    const earlierSource = path.join(earlier, "vol-3", "data")
    const earlierTarget = path.join(base, "pods", "uid-3", "mount")
    yield* mounter.ensureTmpfs(earlier)
    yield* Effect.promise(() => fs.mkdir(earlierSource, { recursive: true }))
    yield* mounter.bindReadOnly(earlierSource, earlierTarget)
    yield* Effect.promise(() => sh("mount", ["--bind", sub, earlier]))
    const replaced = yield* mounter.unbind(earlierSource, earlierTarget)
    return {
      shown,
      belowRoot,
      belowRootLeft,
      replaced,
      replacedLeft: (yield* Effect.promise(() => mountsOn(earlierTarget))).length,
    }
  }),

  /**
   * The data root replaced under a running pod: a container's view of the target keeps the
   * earlier tmpfs; adoptEarlier binds it back, writable, onto the volume's new data
   * directory, so a write there reaches the view; unbind and unmountAll take both binds off.
   */
  adopt: Effect.gen(function* () {
    const mounter = yield* Mounter
    const view = path.join(base, "view")
    yield* mounter.ensureTmpfs(root)
    yield* Effect.promise(async () => {
      await fs.mkdir(source, { recursive: true })
      await fs.writeFile(path.join(source, "tls.crt"), "cert-1")
    })
    yield* mounter.bindReadOnly(source, target)
    yield* Effect.promise(async () => {
      await fs.mkdir(view)
      await sh("mount", ["--bind", target, view])
    })
    const notStale = yield* mounter.adoptEarlier(source, target)
    const missingTarget = yield* mounter.adoptEarlier(source, path.join(base, "pods", "gone", "mount"))
    // The driver's tmpfs goes (lazily: the binds keep it), a new one takes its place.
    yield* Effect.promise(() => sh("umount", ["-l", root]))
    yield* mounter.ensureTmpfs(root)
    yield* Effect.promise(() => fs.mkdir(source, { recursive: true }))
    const adopted = yield* mounter.adoptEarlier(source, target)
    const dataDirMounts = yield* Effect.promise(() => mountsOn(source))
    const seenInSource = yield* Effect.promise(() => fs.readFile(path.join(source, "tls.crt"), "utf8"))
    yield* Effect.promise(() => fs.writeFile(path.join(source, "tls.crt"), "cert-2"))
    const seenInView = yield* Effect.promise(() => fs.readFile(path.join(view, "tls.crt"), "utf8"))
    const again = yield* mounter.adoptEarlier(source, target)
    const bound = yield* mounter.isBound(source, target)
    const unbound = yield* mounter.unbind(source, target)
    yield* mounter.unmountAll(source)
    yield* mounter.unmountAll(source)
    yield* mounter.unmountAll(path.join(base, "never", "there"))
    return {
      notStale,
      missingTarget,
      adopted,
      dataDirMounts,
      seenInSource,
      seenInView,
      again,
      bound,
      unbound,
      targetMounts: (yield* Effect.promise(() => mountsOn(target))).length,
      dataDirMountsAfter: (yield* Effect.promise(() => mountsOn(source))).length,
      viewAfter: yield* Effect.promise(() => fs.readFile(path.join(view, "tls.crt"), "utf8")),
    }
  }),

  /** What inspect says about what can be found at a target path. */
  inspect: Effect.gen(function* () {
    const mounter = yield* Mounter
    const real = yield* Effect.promise(() => fs.realpath(base))
    const sock = path.join(base, "sock")
    const server = net.createServer()
    yield* Effect.promise(async () => {
      await fs.mkdir(path.join(base, "real", "dir"), { recursive: true })
      await fs.symlink(path.join(base, "real"), path.join(base, "link"))
      await fs.symlink(path.join(base, "real", "dir"), path.join(base, "real", "dirlink"))
      await fs.writeFile(path.join(base, "file"), "x")
      await new Promise<void>((resolve) => server.listen(sock, resolve))
    })
    const seen = (p: string) =>
      Effect.map(mounter.inspect(p), (state) => ({
        ...state,
        resolved: state.resolved.replace(real, "<base>"),
      }))
    return {
      missing: yield* seen(path.join(base, "pods", "uid", "mount")),
      directory: yield* seen(path.join(base, "real", "dir")),
      throughLink: yield* seen(path.join(base, "link", "dir", "new", "mount")),
      linkAtTarget: yield* seen(path.join(base, "real", "dirlink")),
      file: yield* seen(path.join(base, "file")),
      belowFile: yield* seen(path.join(base, "file", "mount")),
      socket: yield* seen(sock).pipe(Effect.ensuring(Effect.sync(() => server.close()))),
      root: yield* seen("/"),
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

  /**
   * statx through the helper: its answers directly, and a volume's bind made, checked and
   * taken off by a Mounter whose mount table is a missing file, so none of it read mountinfo.
   * Only a foreign mount needs the table (to say what it is): that fails here.
   */
  statx: Effect.gen(function* () {
    const mounter = yield* Mounter
    const addon = loadMountAddon()
    if (
      Result.isFailure(addon) ||
      addon.success.statMount === undefined ||
      addon.success.statMountSync === undefined
    )
      return yield* Effect.die("no statMount")
    const { statMount, statMountSync } = addon.success
    const other = path.join(root, "vol-2", "data")
    const foreign = path.join(base, "foreign")
    yield* Effect.promise(async () => {
      await fs.mkdir(root, { recursive: true })
      await sh("mount", ["-t", "tmpfs", "tmpfs", root])
      await fs.mkdir(source, { recursive: true })
      await fs.mkdir(other, { recursive: true })
      await fs.mkdir(foreign)
      await sh("mount", ["-t", "tmpfs", "tmpfs", foreign])
    })
    // The threadpool's answer and the one in place must agree; a difference shows in the result.
    const state = (at: string, from = "") =>
      Effect.promise(async () => {
        const onPool = await statMount(at, from)
        const inPlace = statMountSync(at, from)
        return onPool === inPlace ? inPlace : `statMount ${onPool}, statMountSync ${inPlace}`
      })
    const direct = {
      root: yield* state(root),
      dir: yield* state(source),
      missing: yield* state(path.join(base, "missing")),
      foreignOfSource: yield* state(foreign, source),
    }
    const bind = yield* mounter.prepareBind(source, target)
    const beforeBind = yield* mounter.isBound(source, target)
    yield* bind
    const bound = {
      ofSource: yield* state(target, source),
      ofOther: yield* state(target, other),
      mountPoint: yield* state(target),
      isBound: yield* mounter.isBound(source, target),
      isMountPoint: yield* mounter.isMountPoint(target),
    }
    yield* mounter.bindReadOnly(source, target)
    const mounts = (yield* Effect.promise(() => mountsOn(target))).length
    const unbound = yield* mounter.unbind(source, target)
    yield* mounter.unmountAll(source)
    const foreignUnbind = yield* Effect.flip(mounter.unbind(source, foreign))
    return {
      direct,
      beforeBind,
      bound,
      mounts,
      unbound,
      after: yield* state(target, source),
      foreignUnbind: foreignUnbind.message,
    }
  }),
}

const program: EffectType.Effect<unknown, unknown, MounterService> | undefined =
  scenarios[scenario as keyof typeof scenarios]
if (program === undefined || base === "") {
  process.stdout.write(
    `${JSON.stringify({ failure: `usage: mount-fixture.ts <${Object.keys(scenarios).join("|")}> <base-dir> [auto|syscall|command]` })}\n`,
  )
} else {
  // The statx scenario's Mounter has no mount table to read.
  const mountInfo = scenario === "statx" ? path.join(base, "no-mountinfo") : "/proc/self/mountinfo"
  const exit = await Effect.runPromiseExit(
    program.pipe(Effect.provide(Mounter.layerVia(via as MountVia, mountInfo))),
  )
  const result = exit._tag === "Success" ? { ok: exit.value } : { failure: String(exit.cause) }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

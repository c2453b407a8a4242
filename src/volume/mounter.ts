/**
 * Mounts on the node: the tmpfs under the data root, the read-only bind of a volume's
 * data/ into the pod's target path, and unmounting it again. The live layer mounts
 * with mount(2) through the native helper (mount-syscalls.ts), or with util-linux
 * `mount`/`umount` through a long-lived shell where the helper cannot load
 * (mount-commands.ts); either way the driver needs CAP_SYS_ADMIN in the host's mount
 * namespace. `/proc/self/mountinfo` says what is mounted where.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Context, Effect, Layer, Option, Result, type Scope } from "effect"
import { makeCommandShell } from "./command-shell.js"
import { MountError, reasonOf } from "./errors.js"
import { commandMounts } from "./mount-commands.js"
import { loadMountAddon, type MountCalls, syscallMounts } from "./mount-syscalls.js"
import { type MountInfoEntry, mountsAtIn, parseMountInfo } from "./mountinfo.js"

const mountInfoPath = "/proc/self/mountinfo"

/** A bind's preparation (make the target, check the paths) giving the bind itself. */
export type PreparedBind = Effect.Effect<Effect.Effect<void, MountError>, MountError>

/** How mounts are made: "syscall" needs the native helper; "auto" falls back to "command" without it. */
export type MountVia = "auto" | "syscall" | "command"

const mountCalls = (via: MountVia): Effect.Effect<MountCalls, MountError, Scope.Scope> =>
  Effect.gen(function* () {
    if (via !== "command") {
      const addon = loadMountAddon()
      if (Result.isSuccess(addon)) return syscallMounts(addon.success)
      if (via === "syscall") {
        return yield* new MountError({ operation: "load", target: "mount helper", reason: addon.failure })
      }
      yield* Effect.logWarning("the native mount helper did not load; mounting with mount(8)").pipe(
        Effect.annotateLogs({ reason: addon.failure }),
      )
    }
    return commandMounts(yield* makeCommandShell(), mountInfoPath)
  })

/** Stacked mounts on one target deeper than this mean something else keeps mounting there. */
const maxStackedMounts = 32

const tryFs = <A>(operation: string, target: string, call: () => Promise<A>) =>
  Effect.tryPromise({
    try: call,
    catch: (cause) => new MountError({ operation, target, reason: reasonOf(cause) }),
  })

/** ENOENT is `none`: the path is not there. */
const tryFsIfExists = <A>(operation: string, target: string, call: () => Promise<A>) =>
  tryFs(operation, target, () =>
    call().then(Option.some<A>, (cause: unknown) =>
      (cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT"
        ? Option.none<A>()
        : Promise.reject(cause),
    ),
  )

const makeMounter = (calls: MountCalls): Mounter["Service"] => {
  const readMountInfo = (operation: string, target: string) =>
    tryFs(operation, target, () => fs.readFile(mountInfoPath, "utf8"))

  /** The mounts at `target` (resolved like the kernel shows it), topmost last; none when it does not exist. */
  const mountsOn = (operation: string, target: string) =>
    Effect.gen(function* () {
      const real = yield* tryFsIfExists(operation, target, () => fs.realpath(path.resolve(target)))
      if (Option.isNone(real)) return Option.none<{ real: string; mounts: ReadonlyArray<MountInfoEntry> }>()
      const mounts = mountsAtIn(yield* readMountInfo(operation, target), real.value)
      return Option.some({ real: real.value, mounts })
    })

  const isMountPoint = Effect.fn("Mounter.isMountPoint")(function* (target: string) {
    const found = yield* mountsOn("isMountPoint", target)
    return Option.isSome(found) && found.value.mounts.length > 0
  })

  const mkdirP = (operation: string, target: string, mode: number) =>
    tryFs(operation, target, () => fs.mkdir(target, { recursive: true, mode }))

  const prepareBind = Effect.fn("Mounter.prepareBind")(function* (source: string, target: string) {
    yield* mkdirP("bindReadOnly", target, 0o750)
    const found = yield* mountsOn("bindReadOnly", target)
    if (Option.isSome(found) && found.value.mounts.length > 0) return Effect.void
    const realTarget = Option.match(found, { onNone: () => target, onSome: ({ real }) => real })
    const realSource = yield* tryFs("bindReadOnly", target, () => fs.realpath(source))
    return calls.bindReadOnly(realSource, realTarget)
  })

  return Mounter.of({
    isMountPoint,

    mountPoints: readMountInfo("mountPoints", mountInfoPath).pipe(
      Effect.map((text) => new Set(parseMountInfo(text).map((entry) => entry.mountPoint))),
    ),

    ensureTmpfs: Effect.fn("Mounter.ensureTmpfs")(function* (target: string) {
      yield* mkdirP("ensureTmpfs", target, 0o700)
      const found = yield* mountsOn("ensureTmpfs", target)
      const top = Option.flatMap(found, ({ mounts }) => Option.fromNullishOr(mounts.at(-1)))
      if (Option.isSome(top) && top.value.fsType === "tmpfs") return
      yield* calls.mountTmpfs(target)
    }),

    prepareBind,
    bindReadOnly: (source, target) => Effect.flatten(prepareBind(source, target)),

    unmount: Effect.fn("Mounter.unmount")(function* (target: string) {
      for (let round = 0; yield* isMountPoint(target); round++) {
        if (round >= maxStackedMounts) {
          return yield* new MountError({
            operation: "unmount",
            target,
            reason: `still a mount point after ${maxStackedMounts} unmounts`,
          })
        }
        yield* calls.unmount(target).pipe(
          // lost a race with another unmount: fine as long as nothing is mounted there now
          Effect.catch((error) =>
            Effect.flatMap(isMountPoint(target), (mounted) => (mounted ? Effect.fail(error) : Effect.void)),
          ),
        )
      }
      // rmdir, not rm -rf: anything left inside is not ours to delete
      yield* tryFsIfExists("unmount", target, () => fs.rmdir(target))
    }),
  })
}

export class Mounter extends Context.Service<
  Mounter,
  {
    /** mkdir -p; mounts a tmpfs (mode 0700) unless `path` already is a tmpfs mount point. */
    readonly ensureTmpfs: (path: string) => Effect.Effect<void, MountError>
    /** mkdir -p target (0750); unless it is already a mount point, bind `source` there read-only. */
    readonly bindReadOnly: (source: string, target: string) => Effect.Effect<void, MountError>
    /**
     * bindReadOnly in two steps, so the first can overlap other work: make the target and
     * resolve and check both paths now; the effect returned mounts (nothing, when the
     * target was a mount point already).
     */
    readonly prepareBind: (source: string, target: string) => PreparedBind
    /** Unmounts every mount stacked on `target`, then removes the (empty) directory; idempotent. */
    readonly unmount: (target: string) => Effect.Effect<void, MountError>
    readonly isMountPoint: (path: string) => Effect.Effect<boolean, MountError>
    /** Every mount point right now, read once: for checking many paths at a time (recovery). */
    readonly mountPoints: Effect.Effect<ReadonlySet<string>, MountError>
  }
>()("csi/Mounter") {
  static readonly layerVia = (via: MountVia) =>
    Layer.effect(
      Mounter,
      mountCalls(via).pipe(
        Effect.tap((calls) => Effect.logInfo(`mounting with ${calls.via}`)),
        Effect.map(makeMounter),
      ),
    )

  static readonly layer = Mounter.layerVia("auto")
}

/**
 * Mounts on the node: the tmpfs under the data root, the read-only bind of a volume's
 * data/ into the pod's target path, and unmounting it again. The live layer runs
 * util-linux `mount`/`umount` through a long-lived shell (see command-shell.ts; the
 * driver needs CAP_SYS_ADMIN in the host's mount namespace) and reads
 * `/proc/self/mountinfo` to learn what is mounted where.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Context, Effect, Layer, Option } from "effect"
import { type CommandShell, makeCommandShell } from "./command-shell.js"
import { MountError, reasonOf } from "./errors.js"
import { type MountInfoEntry, mountsAtIn, parseMountInfo } from "./mountinfo.js"

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
    readonly prepareBind: (
      source: string,
      target: string,
    ) => Effect.Effect<Effect.Effect<void, MountError>, MountError>
    /** Unmounts every mount stacked on `target`, then removes the (empty) directory; idempotent. */
    readonly unmount: (target: string) => Effect.Effect<void, MountError>
    readonly isMountPoint: (path: string) => Effect.Effect<boolean, MountError>
    /** Every mount point right now, read once: for checking many paths at a time (recovery). */
    readonly mountPoints: Effect.Effect<ReadonlySet<string>, MountError>
  }
>()("csi/Mounter") {
  static readonly layer = Layer.effect(
    Mounter,
    Effect.map(makeCommandShell(), (shell) => makeMounter(shell)),
  )
}

/** Stacked mounts on one target deeper than this mean something else keeps mounting there. */
const maxStackedMounts = 32

/** mount(8) wraps its message over lines; one line reads better in a status message. */
const oneLine = (text: string): string =>
  text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .join(" ")

/** One run of `command args`; failure as a MountError naming the target and what the command said. */
const runWith =
  (shell: CommandShell) =>
  (operation: string, target: string, command: string, args: ReadonlyArray<string>) =>
    shell.run([command, ...args]).pipe(
      Effect.mapError((error) => new MountError({ operation, target, reason: error.reason })),
      Effect.flatMap(({ exitStatus, output }) =>
        exitStatus === 0
          ? Effect.void
          : Effect.fail(
              new MountError({
                operation,
                target,
                reason: `${oneLine(output) || `${command} failed`} (exit status ${exitStatus})`,
              }),
            ),
      ),
    )

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

const makeMounter = (shell: CommandShell, mountInfoPath = "/proc/self/mountinfo"): Mounter["Service"] => {
  const run = runWith(shell)
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

  /**
   * Whether the filesystem at `target` refuses writes. Root passes every permission check
   * but this one, so asking for write access answers it with one syscall, where reading
   * the mount table costs a pass over every mount on the node.
   */
  const isReadOnly = (target: string) =>
    Effect.tryPromise({
      try: () =>
        fs.access(target, fs.constants.W_OK).then(
          () => false,
          (cause: NodeJS.ErrnoException) => (cause.code === "EROFS" ? true : Promise.reject(cause)),
        ),
      catch: (cause) => cause,
    }).pipe(
      // Not root (e.g. a test): the mount table says it instead.
      Effect.catch(() =>
        mountsOn("bindReadOnly", target).pipe(
          Effect.map((found) =>
            Option.exists(
              Option.flatMap(found, ({ mounts }) => Option.fromNullishOr(mounts.at(-1))),
              (top) => top.mountOptions.includes("ro"),
            ),
          ),
        ),
      ),
    )

  const mkdirP = (operation: string, target: string, mode: number) =>
    tryFs(operation, target, () => fs.mkdir(target, { recursive: true, mode }))

  /** Binds `source` onto `target` (both canonical) read-only. */
  const bind = (source: string, target: string) =>
    Effect.gen(function* () {
      // One process: util-linux ≥ 2.27 makes a bind read-only in the same call. The paths are
      // canonical already, so -c spares mount(8) resolving them again (~0.6 ms of its ~2 ms).
      yield* run("bindReadOnly", target, "mount", ["-c", "--bind", "-o", "ro", source, target])
      // Older mount(8) ignores `ro` on a bind: check, and remount read-only only then.
      if (yield* isReadOnly(target)) return
      yield* run("bindReadOnly", target, "mount", ["-o", "remount,bind,ro", target]).pipe(
        Effect.onError(() => Effect.ignore(run("bindReadOnly", target, "umount", [target]))),
      )
    })

  const prepareBind = Effect.fn("Mounter.prepareBind")(function* (source: string, target: string) {
    yield* mkdirP("bindReadOnly", target, 0o750)
    const found = yield* mountsOn("bindReadOnly", target)
    if (Option.isSome(found) && found.value.mounts.length > 0) return Effect.void
    const realTarget = Option.match(found, { onNone: () => target, onSome: ({ real }) => real })
    const realSource = yield* tryFs("bindReadOnly", target, () => fs.realpath(source))
    return bind(realSource, realTarget)
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
      yield* run("ensureTmpfs", target, "mount", ["-t", "tmpfs", "-o", "mode=0700", "tmpfs", target])
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
        yield* run("unmount", target, "umount", [target]).pipe(
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

/**
 * Mounts on the node: the tmpfs under the data root, the read-only bind of a volume's
 * data/ into the pod's target path, and taking that bind off again (only that: a mount
 * the driver did not make is never unmounted, whatever path it is asked about); and,
 * when the data root's tmpfs was replaced under a running pod, binding the earlier tmpfs
 * back from the pod's target onto the volume's new data/, writable (adopt.ts). The
 * live layer mounts with mount(2) through the native helper (mount-syscalls.ts), or
 * with util-linux `mount`/`umount` through a long-lived shell where the helper cannot
 * load (mount-commands.ts); either way the driver needs CAP_SYS_ADMIN in the host's
 * mount namespace. statx(2) through the native helper says what is mounted at a path in
 * the usual cases (a fresh target, the volume's own bind); `/proc/self/mountinfo`, which
 * the kernel writes out for every mount of the namespace, is read when it cannot tell.
 */
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import { Context, Effect, Layer, Option, Result, type Scope } from "effect"
import { quoteCut } from "../csi/target-path.js"
import { makeCommandShell } from "./command-shell.js"
import { MountError, reasonOf } from "./errors.js"
import { hasCode, inspectPath, orMissing, type PathState, realpath, resolveExisting } from "./inspect.js"
import { commandMounts } from "./mount-commands.js"
import { loadMountAddon, type MountCalls, type MountState, syscallMounts } from "./mount-syscalls.js"
import { bindRootsOf, isBindOf, type MountInfoEntry, mountsAtIn, parseMountInfo } from "./mountinfo.js"
import { absolutePath } from "./paths.js"

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

/** What is on top at a target, for a given source: nothing, a bind of the source, or another mount. */
type Top =
  | { readonly _tag: "Nothing" }
  | { readonly _tag: "Ours" }
  | { readonly _tag: "Other"; readonly entry: MountInfoEntry }

const nothingOnTop: Top = { _tag: "Nothing" }
const oursOnTop: Top = { _tag: "Ours" }

/** Stacked mounts on one target deeper than this mean something else keeps mounting there. */
const maxStackedMounts = 32

const tryFsAsync = <A>(operation: string, target: string, call: () => Promise<A>) =>
  Effect.tryPromise({
    try: call,
    catch: (cause) => new MountError({ operation, target, reason: reasonOf(cause) }),
  })

/**
 * Path calls that only look (realpath, stat) and rmdir are synchronous, as inspect.ts's: on
 * kubelet's local directories each takes a few µs, and the `fs/promises` form costs several
 * times that in CPU for the thread pool's round trip. The mount table is still read async:
 * it grows with the node's mounts, and the kernel writes it out while it is read.
 */
const tryFs = <A>(operation: string, target: string, call: () => A) =>
  Effect.try({
    try: call,
    catch: (cause) => new MountError({ operation, target, reason: reasonOf(cause) }),
  })

const makeMounter = (calls: MountCalls, mountInfo: string): Mounter["Service"] => {
  const readMountInfo = (operation: string, target: string) =>
    tryFsAsync(operation, target, () => fsp.readFile(mountInfo, "utf8"))

  /** statx's answer where the helper gives one; "unknown" (read mountinfo) where not. */
  const stateOf = (target: string, source?: string): Effect.Effect<MountState> =>
    calls.mountState === undefined ? Effect.succeed("unknown") : calls.mountState(target, source)

  /** `target` resolved as the kernel shows it in the mount table; undefined when it does not exist. */
  const realOf = (operation: string, target: string) =>
    tryFs(operation, target, () => orMissing(() => realpath(absolutePath(target))))

  /** The mounts at `target` (resolved like the kernel shows it), topmost last; none when it does not exist. */
  const mountsOn = (operation: string, target: string) =>
    Effect.gen(function* () {
      const real = yield* realOf(operation, target)
      if (real === undefined) return Option.none<{ real: string; mounts: ReadonlyArray<MountInfoEntry> }>()
      const mounts = mountsAtIn(yield* readMountInfo(operation, target), real)
      return Option.some({ real, mounts })
    })

  /** Whether `target` is a mount point (with its real path): statx first, mountinfo when it cannot tell. */
  const mountedAt = (operation: string, target: string) =>
    Effect.gen(function* () {
      const real = yield* realOf(operation, target)
      if (real === undefined) return { real: target, mounted: false }
      const state = yield* stateOf(real)
      if (state !== "unknown") return { real, mounted: state !== "unmounted" }
      return { real, mounted: mountsAtIn(yield* readMountInfo(operation, target), real).length > 0 }
    })

  const isMountPoint = Effect.fnUntraced(function* (target: string) {
    return (yield* mountedAt("isMountPoint", target)).mounted
  })

  const realpathOf = (operation: string, target: string) =>
    tryFs(operation, target, () => resolveExisting(absolutePath(target)))

  /**
   * The topmost mount at `realTarget` and whether it is a bind of `realSource`: from statx when
   * it can tell (nothing there, or the source's own directory), else from one read of the mount table.
   */
  const topOf = (operation: string, realSource: string, realTarget: string) =>
    Effect.flatMap(stateOf(realTarget, realSource), (state): Effect.Effect<Top, MountError> => {
      if (state === "unmounted") return Effect.succeed(nothingOnTop)
      if (state === "bindOfSource") return Effect.succeed(oursOnTop)
      return Effect.map(readMountInfo(operation, realTarget), (text): Top => {
        const top = mountsAtIn(text, realTarget).at(-1)
        if (top === undefined) return nothingOnTop
        return isBindOf(top, bindRootsOf(text, realSource)) ? oursOnTop : { _tag: "Other", entry: top }
      })
    })

  const isBound = Effect.fnUntraced(function* (source: string, target: string) {
    const realTarget = yield* realpathOf("isBound", target)
    return (yield* topOf("isBound", yield* realpathOf("isBound", source), realTarget))._tag === "Ours"
  })

  // The one call that changes kubelet's filesystem stays on the thread pool: making a directory
  // there can take a while (~0.2 ms of ext4 here, more with many mounts in the namespace).
  const mkdirP = (operation: string, target: string, mode: number) =>
    tryFsAsync(operation, target, () => fsp.mkdir(target, { recursive: true, mode }))

  const prepareBind = Effect.fnUntraced(function* (source: string, target: string) {
    yield* mkdirP("bindReadOnly", target, 0o750)
    const realTarget = yield* tryFs("bindReadOnly", target, () => realpath(target))
    const realSource = yield* tryFs("bindReadOnly", target, () => realpath(source))
    if ((yield* topOf("bindReadOnly", realSource, realTarget))._tag === "Ours") return Effect.void
    return calls.bindReadOnly(realSource, realTarget)
  })

  const unbind = Effect.fnUntraced(function* (source: string, target: string) {
    const state = yield* inspectPath(target)
    if (state.kind === "missing") return unbound
    if (state.kind === "other") return leftAlone(`it is ${state.what}`)
    const realSource = yield* realpathOf("unbind", source)
    for (let round = 0; ; round++) {
      const top = yield* topOf("unbind", realSource, state.resolved)
      if (top._tag === "Nothing") break
      if (top._tag === "Other") {
        const { fsType, source: from, root } = top.entry
        return leftAlone(
          `something else is mounted there (${fsType} from ${quoteCut(from, 60)}, root ${quoteCut(root, 100)})`,
        )
      }
      if (round >= maxStackedMounts) {
        return yield* new MountError({
          operation: "unbind",
          target,
          reason: `still a mount point after ${maxStackedMounts} unmounts`,
        })
      }
      yield* calls.unmount(state.resolved).pipe(
        // lost a race with another unmount: fine as long as ours is not on top now
        Effect.catch((error) =>
          Effect.flatMap(topOf("unbind", realSource, state.resolved), (top) =>
            top._tag === "Ours" ? Effect.fail(error) : Effect.void,
          ),
        ),
      )
    }
    // rmdir, not rm -rf: anything left inside is not ours to delete
    return yield* tryFs("unbind", target, () => {
      try {
        fs.rmdirSync(state.resolved)
        return unbound
      } catch (cause) {
        if (hasCode(cause, "ENOENT")) return unbound
        if (hasCode(cause, "ENOTEMPTY", "EEXIST")) return leftAlone("the directory is not empty")
        if (hasCode(cause, "EBUSY", "ENOTDIR"))
          return leftAlone(`it changed while being unmounted (${reasonOf(cause)})`)
        // The adapter's one throw: tryFs makes it the MountError.
        throw cause
      }
    })
  })

  const adoptEarlier = Effect.fnUntraced(function* (source: string, target: string) {
    // Two stats settle the usual case: no target yet, or a target on the data directory's own filesystem.
    const atTarget = yield* tryFs("adoptEarlier", target, () =>
      orMissing(() => fs.statSync(target, { throwIfNoEntry: false })),
    )
    if (atTarget === undefined || !atTarget.isDirectory()) return false
    const realSource = yield* tryFs("adoptEarlier", source, () => realpath(source))
    const atSource = yield* tryFs("adoptEarlier", source, () => fs.statSync(realSource))
    if (atTarget.dev === atSource.dev) return false
    const realTarget = yield* realpathOf("adoptEarlier", target)
    const text = yield* readMountInfo("adoptEarlier", realTarget)
    const top = mountsAtIn(text, realTarget).at(-1)
    if (top === undefined || !isBindOf(top, bindRootsOf(text, realSource))) return false
    // Never stacked: a data directory holds one earlier filesystem at most.
    if (mountsAtIn(text, realSource).length > 0) return false
    yield* calls.bindWritable(realTarget, realSource)
    return true
  })

  const unmountAll = Effect.fnUntraced(function* (target: string) {
    for (let round = 0; ; round++) {
      const { real, mounted } = yield* mountedAt("unmountAll", target)
      if (!mounted) return
      if (round >= maxStackedMounts) {
        return yield* new MountError({
          operation: "unmountAll",
          target,
          reason: `still a mount point after ${maxStackedMounts} unmounts`,
        })
      }
      yield* calls.unmount(real)
    }
  })

  return Mounter.of({
    inspect: inspectPath,
    isMountPoint,
    isBound,

    mountPoints: readMountInfo("mountPoints", mountInfo).pipe(
      Effect.map((text) => new Set(parseMountInfo(text).map((entry) => entry.mountPoint))),
    ),

    ensureTmpfs: Effect.fnUntraced(function* (target: string) {
      yield* mkdirP("ensureTmpfs", target, 0o700)
      const found = yield* mountsOn("ensureTmpfs", target)
      const top = Option.flatMap(found, ({ mounts }) => Option.fromNullishOr(mounts.at(-1)))
      if (Option.isSome(top) && top.value.fsType === "tmpfs") return
      yield* calls.mountTmpfs(target)
    }),

    prepareBind,
    bindReadOnly: (source, target) => Effect.flatten(prepareBind(source, target)),
    unbind,
    adoptEarlier,
    unmountAll,
  })
}

/** What `unbind` did: the target is gone (or never was), or something not ours stays there, and why. */
export type Unbound = { readonly _tag: "Unbound" } | { readonly _tag: "LeftAlone"; readonly reason: string }

export const unbound: Unbound = { _tag: "Unbound" }
export const leftAlone = (reason: string): Unbound => ({ _tag: "LeftAlone", reason })

export class Mounter extends Context.Service<
  Mounter,
  {
    /** mkdir -p; mounts a tmpfs (mode 0700) unless `path` already is a tmpfs mount point. */
    readonly ensureTmpfs: (path: string) => Effect.Effect<void, MountError>
    /** mkdir -p target (0750); unless a bind of `source` is on top there already, bind `source` read-only. */
    readonly bindReadOnly: (source: string, target: string) => Effect.Effect<void, MountError>
    /**
     * bindReadOnly in two steps, so the first can overlap other work: make the target and
     * resolve and check both paths now; the effect returned mounts (nothing, when the
     * bind was there already).
     */
    readonly prepareBind: (source: string, target: string) => PreparedBind
    /**
     * Takes binds of `source` off `target`, topmost first, then removes `target` if it is
     * an empty directory; idempotent. A bind of `source` is a tmpfs mount whose mounted root
     * is `source` on its tmpfs (or on an earlier tmpfs at the same place). Anything else
     * there (another mount on top, a file, a directory with contents) is left alone.
     */
    readonly unbind: (source: string, target: string) => Effect.Effect<Unbound, MountError>
    /**
     * When the data root's tmpfs was replaced under a running pod, its container still sees
     * the earlier tmpfs through its own bind of `target`, and a mount placed on `target` now
     * would not reach it. So when the topmost mount at `target` is a bind of `source`'s path
     * on another filesystem than `source` (an earlier tmpfs), binds it back onto `source`,
     * writable, and answers true: what the driver writes into `source` then reaches the
     * container. False, changing nothing, otherwise (and when `source` is a mount point
     * already: never stacked).
     */
    readonly adoptEarlier: (source: string, target: string) => Effect.Effect<boolean, MountError>
    /** Takes every mount off `path`, topmost first: for the driver's own directories, where nobody else mounts. */
    readonly unmountAll: (path: string) => Effect.Effect<void, MountError>
    /** Whether the topmost mount at `target` is a bind of `source`. */
    readonly isBound: (source: string, target: string) => Effect.Effect<boolean, MountError>
    /** What is at `path` and where it resolves to; only looks. */
    readonly inspect: (path: string) => Effect.Effect<PathState, MountError>
    readonly isMountPoint: (path: string) => Effect.Effect<boolean, MountError>
    /** Every mount point right now, read once: for checking many paths at a time (recovery). */
    readonly mountPoints: Effect.Effect<ReadonlySet<string>, MountError>
  }
>()("csi/Mounter") {
  /** `mountInfo` is the mount table the Mounter reads; tests name a missing file to show it is not read. */
  static readonly layerVia = (via: MountVia, mountInfo: string = mountInfoPath) =>
    Layer.effect(
      Mounter,
      mountCalls(via).pipe(
        Effect.tap((calls) => Effect.logInfo(`mounting with ${calls.via}`)),
        Effect.map((calls) => makeMounter(calls, mountInfo)),
      ),
    )

  static readonly layer = Mounter.layerVia("auto")
}

/**
 * The native mount helper, native/mount.c (built by `npm run native` into
 * build/Release/mount.node): mount(2) and umount2(2) on libuv's threadpool. A bind
 * through it costs two syscalls where mount(8) costs a process, ~2.5 ms on a small
 * node, most of it exec. Where it cannot load (not built, another architecture) the
 * Mounter falls back to mount(8). Its statMount (statx(2)) tells the Mounter what is
 * mounted at a target without reading /proc/self/mountinfo, in the usual cases.
 */
import * as os from "node:os"
import { Effect, type Result } from "effect"
import { loadNativeHelper, nativeHelperPath } from "../native.js"
import { MountError } from "./errors.js"

interface MountAddon {
  /** Binds `source` onto `target` and remounts it read-only (unmounting again if that fails). */
  readonly bindReadOnly: (source: string, target: string) => Promise<void>
  /** Binds `source` onto `target` and remounts that bind writable (unmounting again if that fails). */
  readonly bindWritable: (source: string, target: string) => Promise<void>
  readonly mountTmpfs: (target: string, options: string) => Promise<void>
  readonly unmount: (target: string) => Promise<void>
  /** Resolves with one of `mountStates`' indices (native/mount.c), on the threadpool; the tests compare it with statMountSync. */
  readonly statMount?: (target: string, source: string) => Promise<number>
  /** statMount answered in place (a few statx calls), without the threadpool's round trip; an older build lacks it. */
  readonly statMountSync?: (target: string, source: string) => number
}

/**
 * What is mounted on top at a path, as statx(2) sees it: nothing; a tmpfs showing the
 * given source's own directory (same device and inode: a bind of it); something else;
 * or "unknown" (statx could not tell: read mountinfo).
 */
export type MountState = "unmounted" | "bindOfSource" | "mounted" | "unknown"

/** In native/mount.c's order. */
const mountStates: ReadonlyArray<MountState> = ["unmounted", "bindOfSource", "mounted", "unknown"]

/** The primitive mount operations the Mounter is built on; paths are canonical. */
export interface MountCalls {
  /** How mounts are made, for the log. */
  readonly via: string
  readonly bindReadOnly: (source: string, target: string) => Effect.Effect<void, MountError>
  /** A bind that takes writes even when `source` is a read-only bind (the per-mount flag is cleared). */
  readonly bindWritable: (source: string, target: string) => Effect.Effect<void, MountError>
  readonly mountTmpfs: (target: string) => Effect.Effect<void, MountError>
  readonly unmount: (target: string) => Effect.Effect<void, MountError>
  /**
   * What is mounted at `target` (and whether it is a bind of `source`, when given), without
   * reading mountinfo; absent where it cannot be known that way (mount(8), an older helper).
   * Never fails: what it cannot tell is "unknown".
   */
  readonly mountState?: (target: string, source?: string) => Effect.Effect<MountState>
}

/** The addon, or why it did not load. */
export const loadMountAddon = (path: string = nativeHelperPath("mount")): Result.Result<MountAddon, string> =>
  loadNativeHelper<MountAddon>(
    path,
    ["bindReadOnly", "bindWritable", "mountTmpfs", "unmount"],
    "mount helper",
  )

const errnoNames = new Map(Object.entries(os.constants.errno).map(([name, value]) => [value, name]))

/** Like Node's own errors: `EPERM: operation not permitted, mount '/target'`. */
const reasonOfSyscall = (cause: unknown, target: string): string => {
  const error = cause as { errno?: number; syscall?: string; message?: string }
  const code = error.errno === undefined ? undefined : errnoNames.get(error.errno)
  const message = (error.message ?? String(cause)).toLowerCase()
  return `${code ?? "error"}: ${message}, ${error.syscall ?? "mount"} '${target}'`
}

export const syscallMounts = (addon: MountAddon): MountCalls => {
  const call = (operation: string, target: string, run: () => Promise<void>) =>
    Effect.tryPromise({
      try: run,
      catch: (cause) => new MountError({ operation, target, reason: reasonOfSyscall(cause, target) }),
    })
  const statMountSync = addon.statMountSync
  const mountState =
    statMountSync === undefined
      ? {}
      : {
          mountState: (target: string, source = "") =>
            Effect.sync((): MountState => {
              // A path too long for the helper throws: unknown, like any other failure.
              try {
                return mountStates[statMountSync(target, source)] ?? "unknown"
              } catch {
                return "unknown"
              }
            }),
        }
  return {
    ...mountState,
    via: "mount(2)",
    bindReadOnly: (source, target) => call("bindReadOnly", target, () => addon.bindReadOnly(source, target)),
    bindWritable: (source, target) => call("bindWritable", target, () => addon.bindWritable(source, target)),
    mountTmpfs: (target) => call("ensureTmpfs", target, () => addon.mountTmpfs(target, "mode=0700")),
    unmount: (target) => call("unmount", target, () => addon.unmount(target)),
  }
}

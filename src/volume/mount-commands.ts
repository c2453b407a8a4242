/**
 * The mount operations through util-linux `mount`/`umount`, run by the long-lived
 * command shell (command-shell.ts): the Mounter's fallback where the native helper
 * (mount-syscalls.ts) cannot load.
 */
import * as fs from "node:fs/promises"
import { Effect } from "effect"
import type { CommandShell } from "./command-shell.js"
import { MountError, reasonOf } from "./errors.js"
import type { MountCalls } from "./mount-syscalls.js"
import { mountsAtIn } from "./mountinfo.js"

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

/**
 * Whether the filesystem at `target` refuses writes. Root passes every permission check
 * but this one, so asking for write access answers it with one syscall, where reading
 * the mount table costs a pass over every mount on the node.
 */
const isReadOnly = (target: string, mountInfoPath: string) =>
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
      Effect.tryPromise({
        try: () => fs.readFile(mountInfoPath, "utf8"),
        catch: (cause) => new MountError({ operation: "bindReadOnly", target, reason: reasonOf(cause) }),
      }).pipe(Effect.map((text) => mountsAtIn(text, target).at(-1)?.mountOptions.includes("ro") === true)),
    ),
  )

export const commandMounts = (shell: CommandShell, mountInfoPath: string): MountCalls => {
  const run = runWith(shell)
  return {
    via: "mount(8)",
    bindReadOnly: (source, target) =>
      Effect.gen(function* () {
        // One process: util-linux ≥ 2.27 makes a bind read-only in the same call. The paths are
        // canonical already, so -c spares mount(8) resolving them again (~0.6 ms of its ~2 ms).
        yield* run("bindReadOnly", target, "mount", ["-c", "--bind", "-o", "ro", source, target])
        // Older mount(8) ignores `ro` on a bind: check, and remount read-only only then.
        if (yield* isReadOnly(target, mountInfoPath)) return
        yield* run("bindReadOnly", target, "mount", ["-o", "remount,bind,ro", target]).pipe(
          Effect.onError(() => Effect.ignore(run("bindReadOnly", target, "umount", [target]))),
        )
      }),
    // Two steps whatever the version: a bind of a read-only bind is read-only until remounted.
    bindWritable: (source, target) =>
      run("bindWritable", target, "mount", ["-c", "--bind", source, target]).pipe(
        Effect.andThen(
          run("bindWritable", target, "mount", ["-o", "remount,bind,rw", target]).pipe(
            Effect.onError(() => Effect.ignore(run("bindWritable", target, "umount", [target]))),
          ),
        ),
      ),
    mountTmpfs: (target) =>
      run("ensureTmpfs", target, "mount", ["-t", "tmpfs", "-o", "mode=0700", "tmpfs", target]),
    unmount: (target) => run("unmount", target, "umount", [target]),
  }
}

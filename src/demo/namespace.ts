/**
 * The demo mounts for real when it can: as root it re-runs itself inside a private
 * mount namespace (util-linux `unshare`), so its tmpfs and bind mounts vanish with
 * it and never touch the machine's own mount table.
 */
import { spawn, spawnSync } from "node:child_process"
import { Effect } from "effect"

const marker = "CSI_DEMO_PRIVATE_MOUNTS"

export type MountMode = "real" | "plain-directory"

const hasUnshare = () => spawnSync("sh", ["-c", "command -v unshare"], { stdio: "ignore" }).status === 0

/** Whether this process may mount: root, inside the private namespace the demo made. */
export const mountMode = (): MountMode => (process.env[marker] === "1" ? "real" : "plain-directory")

/** As root outside a private namespace: run this same command inside one and exit with its code. */
export const reexecInPrivateNamespace: Effect.Effect<boolean> = Effect.callback<boolean>((resume) => {
  if (process.getuid?.() !== 0 || process.env[marker] === "1" || !hasUnshare()) {
    resume(Effect.succeed(false))
    return
  }
  const child = spawn(
    "unshare",
    ["--mount", "--propagation", "private", process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: "inherit", env: { ...process.env, [marker]: "1" } },
  )
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
  process.once("SIGINT", forward("SIGINT"))
  process.once("SIGTERM", forward("SIGTERM"))
  child.once("exit", (code) => {
    process.exitCode = code ?? 1
    resume(Effect.succeed(true))
  })
})

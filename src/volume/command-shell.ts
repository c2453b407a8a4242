/**
 * Runs mount(8) and umount(8) through one long-lived `/bin/sh` started with the driver.
 * Forking the driver itself blocks its event loop for milliseconds that grow with its
 * heap (the kernel copies its page tables: ~1 ms at 50 MiB, ~6 ms at 330 MiB, measured);
 * a 1 MiB shell forks in microseconds and does it off the event loop.
 *
 * Protocol on the shell's stdin: the argument count, then one argument per line (so no
 * argument may hold a newline, and none is ever parsed by the shell: they are only
 * expanded as "$@"). Each command is answered, in order, with its exit status, its
 * combined stdout and stderr, and a record separator line. The shell is restarted on
 * the next command if it dies; commands in flight when it does fail. Commands run one
 * at a time, so one that hangs would stall every mount after it: past a timeout the
 * shell is killed, failing what is in flight, and the next command gets a new one.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process"
import type { Readable, Writable } from "node:stream"
import { Data, Duration, Effect, type Scope } from "effect"

export interface CommandOutcome {
  readonly exitStatus: number
  /** stdout and stderr together, trailing newlines removed. */
  readonly output: string
}

export class CommandShellError extends Data.TaggedError("CommandShellError")<{ readonly reason: string }> {}

const separator = "\n\u001e\n"

// `status=$?` right after the assignment: an assignment's status is its command substitution's.
// `exec` spares the substitution's subshell a second fork.
const script = `
while IFS= read -r argc; do
  set --
  while [ "$argc" -gt 0 ]; do IFS= read -r arg; set -- "$@" "$arg"; argc=$((argc - 1)); done
  output=$(exec "$@" 2>&1 </dev/null)
  status=$?
  printf '%s\\n%s\\n\\036\\n' "$status" "$output"
done
`

interface Waiter {
  readonly resolve: (outcome: CommandOutcome) => void
  readonly reject: (error: CommandShellError) => void
}

type Shell = ChildProcessByStdio<Writable, Readable, null>

/** Thin adapter over the child process: Promise-based, one shell at a time. */
class ShellProcess {
  private shell: Shell | undefined
  private waiting: Array<Waiter> = []
  private buffered = ""

  start(): void {
    if (this.shell !== undefined) return
    const shell: Shell = spawn("/bin/sh", ["-c", script], {
      stdio: ["pipe", "pipe", "ignore"],
      // The C locale is built into libc: mount(8) then opens no locale files (~0.4 ms a run),
      // and its messages, which reach status details, read the same on every node.
      env: { ...process.env, LC_ALL: "C" },
    })
    shell.stdout.setEncoding("utf8")
    shell.stdout.on("data", (chunk: string) => this.receive(chunk))
    shell.stdin.on("error", () => {}) // EPIPE after the shell died: `exit` reports it
    shell.on("error", (error) => this.detach(shell, `the command shell failed: ${error.message}`))
    shell.on("exit", (code, signal) =>
      this.detach(shell, `the command shell exited (${signal ?? `exit status ${String(code)}`})`),
    )
    this.shell = shell
  }

  run(argv: ReadonlyArray<string>): Promise<CommandOutcome> {
    return new Promise((resolve, reject) => {
      this.start()
      const shell = this.shell
      if (shell === undefined) {
        reject(new CommandShellError({ reason: "the command shell did not start" }))
        return
      }
      this.waiting.push({ resolve, reject })
      shell.stdin.write(`${argv.length}\n${argv.join("\n")}\n`)
    })
  }

  close(): void {
    this.shell?.stdin.end()
  }

  /** Kills the shell; the commands in flight fail with `reason`, the next command starts a new one. */
  abort(reason: string): void {
    const shell = this.shell
    if (shell === undefined) return
    this.detach(shell, reason)
    shell.kill("SIGKILL")
  }

  /** Forgets `shell` (unless already replaced) and fails what was waiting on it. */
  private detach(shell: Shell, reason: string): void {
    if (this.shell !== shell) return
    this.shell = undefined
    this.buffered = ""
    const waiting = this.waiting
    this.waiting = []
    for (const waiter of waiting) waiter.reject(new CommandShellError({ reason }))
  }

  private receive(chunk: string): void {
    this.buffered += chunk
    for (let end = this.buffered.indexOf(separator); end >= 0; end = this.buffered.indexOf(separator)) {
      const record = this.buffered.slice(0, end)
      this.buffered = this.buffered.slice(end + separator.length)
      const newline = record.indexOf("\n")
      const outcome = { exitStatus: Number(record.slice(0, newline)), output: record.slice(newline + 1) }
      this.waiting.shift()?.resolve(outcome)
    }
  }
}

export interface CommandShell {
  /** Runs `argv[0]` with the rest as its arguments; fails only when the shell cannot run it. */
  readonly run: (argv: ReadonlyArray<string>) => Effect.Effect<CommandOutcome, CommandShellError>
}

/**
 * Starts the shell now, while the driver's heap is small, and ends it with the scope.
 * A command not answered within `timeout` fails, and restarts the shell.
 */
export const makeCommandShell = (
  timeout: Duration.Input = Duration.minutes(1),
): Effect.Effect<CommandShell, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => {
        const shell = new ShellProcess()
        shell.start()
        return shell
      }),
      (shell) => Effect.sync(() => shell.close()),
    ),
    (shell) => ({
      run: (argv) => {
        if (argv.some((arg) => arg.includes("\n"))) {
          return Effect.fail(new CommandShellError({ reason: "an argument holds a newline" }))
        }
        return Effect.tryPromise({
          try: () => shell.run(argv),
          catch: (cause) =>
            cause instanceof CommandShellError ? cause : new CommandShellError({ reason: String(cause) }),
        }).pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () => {
              const reason = `${argv[0] ?? "the command"} did not finish within ${Duration.format(Duration.fromInputUnsafe(timeout))}`
              return Effect.andThen(
                Effect.sync(() => shell.abort(reason)),
                Effect.fail(new CommandShellError({ reason })),
              )
            },
          }),
        )
      },
    }),
  )

import { readdirSync, readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { makeCommandShell } from "../../src/volume/command-shell.js"

/** Our children running a command shell (Linux lists a task's children in /proc); other test files may start some too. */
const shellChildren = (): Array<number> =>
  readdirSync(`/proc/${process.pid}/task`)
    .flatMap((task) => readFileSync(`/proc/${process.pid}/task/${task}/children`, "utf8").trim().split(" "))
    .filter((pid) => pid !== "")
    .map(Number)
    .filter((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8")
        return cmdline.startsWith("/bin/sh\0-c\0") && cmdline.includes("read -r argc")
      } catch {
        return false
      }
    })

describe("command shell", () => {
  it.live("runs a command and answers its status and combined output", () =>
    Effect.gen(function* () {
      const shell = yield* makeCommandShell()
      expect(yield* shell.run(["echo", "hello"])).toEqual({ exitStatus: 0, output: "hello" })
      expect(yield* shell.run(["sh", "-c", "echo out; echo err >&2; exit 3"])).toEqual({
        exitStatus: 3,
        output: "out\nerr",
      })
      expect((yield* shell.run(["no-such-command-here"])).exitStatus).toBe(127)
    }).pipe(Effect.scoped),
  )

  it.live("hands arguments over verbatim: nothing is expanded, split or globbed", () =>
    Effect.gen(function* () {
      const shell = yield* makeCommandShell()
      const tricky = ["a b", "$(touch /tmp/never)", "*", "'\"", "\\n", " lead", "trail ", "", "-n"]
      const answer = yield* shell.run(["printf", "[%s]", ...tricky])
      expect(answer).toEqual({ exitStatus: 0, output: tricky.map((arg) => `[${arg}]`).join("") })
    }).pipe(Effect.scoped),
  )

  it.live("refuses an argument with a newline, which would break the protocol", () =>
    Effect.gen(function* () {
      const shell = yield* makeCommandShell()
      const exit = yield* Effect.exit(shell.run(["echo", "two\nlines"]))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* shell.run(["echo", "still fine"])).toEqual({ exitStatus: 0, output: "still fine" })
    }).pipe(Effect.scoped),
  )

  it.live("answers concurrent commands each with its own outcome", () =>
    Effect.gen(function* () {
      const shell = yield* makeCommandShell()
      const answers = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        (i) => shell.run(["sh", "-c", `echo ${i}; exit ${i % 5}`]),
        { concurrency: "unbounded" },
      )
      expect(answers).toEqual(answers.map((_, i) => ({ exitStatus: i % 5, output: String(i) })))
    }).pipe(Effect.scoped),
  )

  it.live("fails the command in flight when the shell dies, and starts a new shell for the next", () =>
    Effect.gen(function* () {
      const others = new Set(shellChildren())
      const shell = yield* makeCommandShell()
      yield* shell.run(["true"])
      const ours = shellChildren().filter((pid) => !others.has(pid))
      expect(ours).toHaveLength(1)
      const pid = ours[0]
      const inFlight = yield* Effect.forkChild(shell.run(["sleep", "5"]))
      yield* Effect.sleep("100 millis")
      process.kill(pid!, "SIGKILL")
      const error = yield* Effect.flip(Fiber.join(inFlight))
      expect(error.reason).toBe("the command shell exited (SIGKILL)")
      expect(yield* shell.run(["echo", "again"])).toEqual({ exitStatus: 0, output: "again" })
    }).pipe(Effect.scoped),
  )

  it.live("a command past the timeout fails, and the next one runs in a new shell", () =>
    Effect.gen(function* () {
      const shell = yield* makeCommandShell("300 millis")
      const [hung, queued] = yield* Effect.all(
        [Effect.flip(shell.run(["sleep", "10"])), Effect.flip(shell.run(["echo", "behind it"]))],
        { concurrency: "unbounded" },
      )
      expect(hung.reason).toBe("sleep did not finish within 300ms")
      // queued behind the hung one in the same shell: failed with it rather than waiting on
      expect(queued.reason).toMatch(/did not finish within 300ms/)
      expect(yield* shell.run(["echo", "fresh"])).toEqual({ exitStatus: 0, output: "fresh" })
    }).pipe(Effect.scoped),
  )

  it.live("ends the shell with its scope", () =>
    Effect.gen(function* () {
      const before = new Set(shellChildren())
      yield* Effect.scoped(Effect.flatMap(makeCommandShell(), (shell) => shell.run(["true"])))
      yield* Effect.sleep("200 millis")
      expect(shellChildren().filter((pid) => !before.has(pid))).toEqual([])
    }),
  )
})

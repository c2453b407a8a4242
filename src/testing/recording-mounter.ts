/**
 * A `Mounter` for tests (ours and users'): mounts nothing and touches no disk, records
 * every call in order and keeps the "mounted" targets with the live Mounter's rules
 * (a bind is unbound only from its own source; anything else at a target stays).
 * `RecordingMounter` is the test's handle: read the log and the mounts, place files,
 * symlinks and foreign mounts for `inspect` and `unbind` to find, or make the next
 * call fail with a MountError.
 */
import * as path from "node:path"
import { Context, Effect, Layer } from "effect"
import { MountError } from "../volume/errors.js"
import type { PathState } from "../volume/inspect.js"
import { leftAlone, Mounter, type Unbound, unbound } from "../volume/mounter.js"

export type MountCall =
  | { readonly operation: "ensureTmpfs"; readonly path: string }
  | { readonly operation: "bindReadOnly"; readonly source: string; readonly target: string }
  | { readonly operation: "unbind"; readonly source: string; readonly target: string }
  | { readonly operation: "isBound"; readonly source: string; readonly target: string }
  | { readonly operation: "adoptEarlier"; readonly source: string; readonly target: string }
  | { readonly operation: "unmountAll"; readonly path: string }
  | { readonly operation: "isMountPoint"; readonly path: string }
  | { readonly operation: "inspect"; readonly path: string }
  | { readonly operation: "mountPoints"; readonly path: string }

export type MountOperation = MountCall["operation"]

/** The operations that change something; the rest only look. */
export const changingOperations: ReadonlySet<MountOperation> = new Set([
  "ensureTmpfs",
  "bindReadOnly",
  "unbind",
  "adoptEarlier",
  "unmountAll",
])

export type FakeMount =
  | { readonly kind: "tmpfs" }
  | { readonly kind: "bind"; readonly source: string; readonly readOnly: true }
  /** A read-only bind of `source`'s path on an earlier tmpfs of the data root (placed by the test). */
  | { readonly kind: "earlier"; readonly source: string }
  /** The earlier filesystem at `from` (a pod's target), bound back writable onto a data directory. */
  | { readonly kind: "adopted"; readonly from: string }
  /** A mount the driver did not make (placed by the test). */
  | { readonly kind: "other"; readonly description: string }

/** What a test can place at a path, as if it were on disk. */
export type FakeEntry =
  | { readonly kind: "file"; readonly what?: string }
  | { readonly kind: "directory"; readonly empty: boolean }
  | { readonly kind: "symlink"; readonly to: string }

export class RecordingMounter extends Context.Service<
  RecordingMounter,
  {
    /** Every call so far, oldest first, including the ones that failed. */
    readonly calls: Effect.Effect<ReadonlyArray<MountCall>>
    /** Mounted targets (paths resolved) and the topmost mount on each. */
    readonly mounts: Effect.Effect<ReadonlyMap<string, FakeMount>>
    /** The next call (of `operation`, when given) fails with `reason` and changes nothing. */
    readonly failNext: (reason: string, operation?: MountOperation) => Effect.Effect<void>
    /** Puts a file, a directory or a symlink at `path` (absolute), for `inspect` and `unbind` to find. */
    readonly place: (path: string, entry: FakeEntry) => Effect.Effect<void>
    /** Mounts something that is not the driver's on `target`. */
    readonly mountOther: (target: string, description: string) => Effect.Effect<void>
    /**
     * Leaves a bind of `source` at `target` as a data root replaced under a running pod does:
     * the volume's bind, from the earlier tmpfs (see `Mounter.adoptEarlier`).
     */
    readonly mountEarlier: (source: string, target: string) => Effect.Effect<void>
  }
>()("csi/testing/RecordingMounter") {
  /** Provides `Mounter` and this handle onto the same log. */
  static readonly layer: Layer.Layer<Mounter | RecordingMounter> = Layer.effectContext(
    Effect.sync(() => {
      const [mounter, handle] = makeRecordingMounter()
      return Context.make(Mounter, mounter).pipe(Context.add(RecordingMounter, handle))
    }),
  )
}

const targetOf = (call: MountCall): string => ("target" in call ? call.target : call.path)

/** Symlinks deeper than this are a loop, like the kernel's ELOOP. */
const maxLinks = 40

const makeRecordingMounter = (): readonly [Mounter["Service"], RecordingMounter["Service"]] => {
  const calls: Array<MountCall> = []
  /** Stacks per target, topmost last, as mounts stack in the kernel. */
  const stacks = new Map<string, Array<FakeMount>>()
  const entries = new Map<string, FakeEntry>()
  let injected: { readonly reason: string; readonly operation: MountOperation | undefined } | undefined

  /** Records the call, then fails it if a failure is pending for it, else runs `effect`. */
  const record = <A>(call: MountCall, effect: () => A): Effect.Effect<A, MountError> =>
    Effect.suspend(() => {
      calls.push(call)
      if (
        injected !== undefined &&
        (injected.operation === undefined || injected.operation === call.operation)
      ) {
        const { reason } = injected
        injected = undefined
        return Effect.fail(new MountError({ operation: call.operation, target: targetOf(call), reason }))
      }
      return Effect.sync(effect)
    })

  /** Every placed symlink on the way followed, like realpath(3). */
  const resolve = (target: string, depth = 0): string => {
    let at = "/"
    for (const component of path
      .resolve(target)
      .split("/")
      .filter((c) => c !== "")) {
      const next = path.join(at, component)
      const entry = entries.get(next)
      at = entry?.kind === "symlink" && depth < maxLinks ? resolve(entry.to, depth + 1) : next
    }
    return at
  }

  const stackOf = (target: string) => stacks.get(resolve(target)) ?? []
  const isMounted = (target: string) => stackOf(target).length > 0
  /** Ours by the live rule: a bind of the source's path, from this tmpfs or an earlier one. */
  const isBound = (source: string, target: string) => {
    const top = stackOf(target).at(-1)
    return (top?.kind === "bind" || top?.kind === "earlier") && top.source === path.resolve(source)
  }
  const push = (target: string, mount: FakeMount) => {
    const key = resolve(target)
    stacks.set(key, [...(stacks.get(key) ?? []), mount])
  }

  const inspect = (target: string): PathState => {
    const entry = entries.get(path.resolve(target))
    const resolved = resolve(target)
    if (entry?.kind === "file") return { resolved, kind: "other", what: entry.what ?? "a regular file" }
    if (entry?.kind === "symlink") return { resolved, kind: "other", what: "a symbolic link" }
    if (entry?.kind === "directory" || isMounted(target))
      return { resolved, kind: "directory", what: "a directory" }
    return { resolved, kind: "missing", what: "missing" }
  }

  const unbind = (source: string, target: string): Unbound => {
    const state = inspect(target)
    if (state.kind === "other") return leftAlone(`it is ${state.what}`)
    const stack = stacks.get(state.resolved) ?? []
    while (stack.length > 0 && isBound(source, target)) stack.pop()
    const top = stack.at(-1)
    if (top !== undefined) {
      return leftAlone(
        `something else is mounted there (${top.kind === "other" ? top.description : top.kind})`,
      )
    }
    stacks.delete(state.resolved)
    const entry = entries.get(path.resolve(target))
    if (entry?.kind === "directory" && !entry.empty) return leftAlone("the directory is not empty")
    entries.delete(path.resolve(target))
    return unbound
  }

  const bindReadOnly = (source: string, target: string) =>
    record({ operation: "bindReadOnly", source, target }, () => {
      if (!isBound(source, target))
        push(target, { kind: "bind", source: path.resolve(source), readOnly: true })
    })

  const mounter = Mounter.of({
    inspect: (target) => record({ operation: "inspect", path: target }, () => inspect(target)),
    isMountPoint: (target) => record({ operation: "isMountPoint", path: target }, () => isMounted(target)),
    isBound: (source, target) =>
      record({ operation: "isBound", source, target }, () => isBound(source, target)),
    mountPoints: record({ operation: "mountPoints", path: "/" }, () => new Set(stacks.keys())),
    ensureTmpfs: (target) =>
      record({ operation: "ensureTmpfs", path: target }, () => {
        if (stackOf(target).at(-1)?.kind !== "tmpfs") push(target, { kind: "tmpfs" })
      }),
    bindReadOnly,
    prepareBind: (source, target) => Effect.succeed(bindReadOnly(source, target)),
    unbind: (source, target) => record({ operation: "unbind", source, target }, () => unbind(source, target)),
    adoptEarlier: (source, target) =>
      record({ operation: "adoptEarlier", source, target }, () => {
        if (stackOf(target).at(-1)?.kind !== "earlier" || !isBound(source, target) || isMounted(source))
          return false
        push(source, { kind: "adopted", from: path.resolve(target) })
        return true
      }),
    unmountAll: (target) =>
      record({ operation: "unmountAll", path: target }, () => {
        stacks.delete(resolve(target))
      }),
  })

  const handle = RecordingMounter.of({
    calls: Effect.sync(() => [...calls]),
    mounts: Effect.sync(
      () =>
        new Map(
          [...stacks].flatMap(([target, stack]) => {
            const top = stack.at(-1)
            return top === undefined ? [] : [[target, top] as const]
          }),
        ),
    ),
    failNext: (reason, operation) =>
      Effect.sync(() => {
        injected = { reason, operation }
      }),
    place: (target, entry) =>
      Effect.sync(() => {
        entries.set(path.resolve(target), entry)
      }),
    mountOther: (target, description) => Effect.sync(() => push(target, { kind: "other", description })),
    mountEarlier: (source, target) =>
      Effect.sync(() => push(target, { kind: "earlier", source: path.resolve(source) })),
  })

  return [mounter, handle]
}

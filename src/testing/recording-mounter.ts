/**
 * A `Mounter` for tests (ours and users'): mounts nothing, records every call in
 * order and keeps the set of "mounted" targets with the live Mounter's idempotence
 * rules. `RecordingMounter` is the test's handle: read the log and the mounts, or make
 * the next call fail with a MountError.
 */
import * as path from "node:path"
import { Context, Effect, Layer } from "effect"
import { MountError } from "../volume/errors.js"
import { Mounter } from "../volume/mounter.js"

export type MountCall =
  | { readonly operation: "ensureTmpfs"; readonly path: string }
  | { readonly operation: "bindReadOnly"; readonly source: string; readonly target: string }
  | { readonly operation: "unmount"; readonly target: string }
  | { readonly operation: "isMountPoint"; readonly path: string }
  | { readonly operation: "mountPoints"; readonly path: string }

export type MountOperation = MountCall["operation"]

export type FakeMount =
  | { readonly kind: "tmpfs" }
  | { readonly kind: "bind"; readonly source: string; readonly readOnly: true }

export class RecordingMounter extends Context.Service<
  RecordingMounter,
  {
    /** Every call so far, oldest first, including the ones that failed. */
    readonly calls: Effect.Effect<ReadonlyArray<MountCall>>
    /** Mounted targets (paths resolved) and the topmost mount on each. */
    readonly mounts: Effect.Effect<ReadonlyMap<string, FakeMount>>
    /** The next call (of `operation`, when given) fails with `reason` and changes nothing. */
    readonly failNext: (reason: string, operation?: MountOperation) => Effect.Effect<void>
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

const makeRecordingMounter = (): readonly [Mounter["Service"], RecordingMounter["Service"]] => {
  const calls: Array<MountCall> = []
  /** Stacks per target, topmost last, as mounts stack in the kernel. */
  const stacks = new Map<string, Array<FakeMount>>()
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

  const isMounted = (target: string) => (stacks.get(path.resolve(target))?.length ?? 0) > 0
  const push = (target: string, mount: FakeMount) => {
    const key = path.resolve(target)
    stacks.set(key, [...(stacks.get(key) ?? []), mount])
  }

  const bindReadOnly = (source: string, target: string) =>
    record({ operation: "bindReadOnly", source, target }, () => {
      if (!isMounted(target)) push(target, { kind: "bind", source: path.resolve(source), readOnly: true })
    })

  const mounter = Mounter.of({
    isMountPoint: (target) => record({ operation: "isMountPoint", path: target }, () => isMounted(target)),
    mountPoints: record({ operation: "mountPoints", path: "/" }, () => new Set(stacks.keys())),
    ensureTmpfs: (target) =>
      record({ operation: "ensureTmpfs", path: target }, () => {
        if (stacks.get(path.resolve(target))?.at(-1)?.kind !== "tmpfs") push(target, { kind: "tmpfs" })
      }),
    bindReadOnly,
    prepareBind: (source, target) => Effect.succeed(bindReadOnly(source, target)),
    unmount: (target) =>
      record({ operation: "unmount", target }, () => {
        stacks.delete(path.resolve(target))
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
  })

  return [mounter, handle]
}

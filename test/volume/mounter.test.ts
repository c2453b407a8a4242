import { execFile, spawnSync } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { RecordingMounter } from "../../src/testing/recording-mounter.js"
import { MountError } from "../../src/volume/errors.js"
import { loadMountAddon, syscallMounts } from "../../src/volume/mount-syscalls.js"
import { Mounter, type MountVia } from "../../src/volume/mounter.js"
import {
  bindRootsOf,
  isBindOf,
  mountContaining,
  mountsAt,
  parseMountInfo,
  parseMountInfoLine,
  unescapeOctal,
} from "../../src/volume/mountinfo.js"
import { mountScenario } from "./mount-scenario.js"

describe("mountinfo parsing", () => {
  const sample = [
    "22 27 0:21 / /proc rw,relatime - proc proc rw",
    "27 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw,errors=remount-ro",
    "63 27 0:39 / /var/lib/kubelet/pods/a\\040b/volumes/kubernetes.io~csi/pvc\\011x/mount ro,relatime shared:30 master:4 - tmpfs tmpfs rw,mode=700",
    "64 27 0:40 /csi-data-dir/vol\\1341/data /mnt/back\\134slash\\012nl rw - tmpfs csi\\040tmpfs rw,size=1024k",
    "65 27 0:41 / /no/optional/fields rw - overlay overlay",
    "garbage line",
    "",
  ].join("\n")

  it("reads mount point, fs type and options, unescaping octal escapes", () => {
    const entries = parseMountInfo(sample)
    assert.strictEqual(entries.length, 5)
    assert.deepStrictEqual(entries[2], {
      root: "/",
      mountPoint: "/var/lib/kubelet/pods/a b/volumes/kubernetes.io~csi/pvc\tx/mount",
      mountOptions: ["ro", "relatime"],
      fsType: "tmpfs",
      source: "tmpfs",
      superOptions: ["rw", "mode=700"],
    })
    assert.deepStrictEqual(entries[3], {
      root: "/csi-data-dir/vol\\1/data",
      mountPoint: "/mnt/back\\slash\nnl",
      mountOptions: ["rw"],
      fsType: "tmpfs",
      source: "csi tmpfs",
      superOptions: ["rw", "size=1024k"],
    })
    assert.strictEqual(entries[1]?.fsType, "ext4")
    assert.deepStrictEqual(entries[4]?.superOptions, [])
  })

  it("skips malformed lines and finds stacked mounts in order", () => {
    assert.strictEqual(parseMountInfoLine("1 2 3:4 / /x rw shared:1"), undefined)
    const stacked = parseMountInfo(
      [
        "70 27 0:50 / /t rw - tmpfs tmpfs rw",
        "71 70 0:51 / /t ro - ext4 /dev/sda rw",
        "72 27 0:52 / /u rw - tmpfs a rw",
      ].join("\n"),
    )
    assert.deepStrictEqual(
      mountsAt(stacked, "/t").map((m) => m.fsType),
      ["tmpfs", "ext4"],
    )
    assert.deepStrictEqual(mountsAt(stacked, "/t/"), [])
    assert.strictEqual(unescapeOctal("a\\040b\\134c\\12"), "a b\\c\\12")
  })

  it("knows which mount a path lives on, and the roots a bind of it shows", () => {
    const table = [
      "1 0 8:1 / / rw - ext4 /dev/sda1 rw",
      "2 1 0:30 / /tmp rw - tmpfs tmpfs rw",
      "3 2 0:31 / /tmp/csi rw - tmpfs tmpfs rw",
      "4 1 0:30 /node-tmp/csi\\040x /data\\040root rw - tmpfs tmpfs rw",
      "5 1 8:1 /var/lib/kubelet /var/lib/kubelet rw - ext4 /dev/sda1 rw",
      "6 2 0:32 / /tmp rw - tmpfs other rw",
    ].join("\n")
    assert.strictEqual(mountContaining(table, "/etc/hosts")?.fsType, "ext4")
    // a later mount on an ancestor covers the earlier one on /tmp/csi
    assert.strictEqual(mountContaining(table, "/tmp/csi/vol/data")?.source, "other")
    assert.strictEqual(mountContaining(table, "/data root/vol/data")?.root, "/node-tmp/csi x")
    assert.deepStrictEqual(bindRootsOf(table, "/data root/vol-1/data"), [
      "/node-tmp/csi x/vol-1/data",
      "/vol-1/data",
    ])
    // a directory that is a mount point itself (an adopted data directory): never "/" as well
    assert.deepStrictEqual(bindRootsOf(table, "/data root"), ["/node-tmp/csi x"])
    assert.deepStrictEqual(bindRootsOf(table, "/var/lib/kubelet/pods"), ["/var/lib/kubelet/pods", "/pods"])
    assert.deepStrictEqual(bindRootsOf("", "/x/data"), ["/x/data"])
    const bind = (root: string, fsType = "tmpfs") =>
      parseMountInfoLine(`9 1 0:31 ${root} /pods/mount ro - ${fsType} tmpfs rw`)!
    assert.isTrue(isBindOf(bind("/vol-1/data"), ["/vol-1/data"]))
    assert.isFalse(isBindOf(bind("/vol-1/data", "ext4"), ["/vol-1/data"]))
    assert.isFalse(isBindOf(bind("/"), ["/vol-1/data"]))
    assert.isFalse(isBindOf(bind("/vol-2/data"), ["/vol-1/data"]))
  })

  it("parses this machine's own mountinfo", async () => {
    const text = await fs.readFile("/proc/self/mountinfo", "utf8")
    const entries = parseMountInfo(text)
    assert.strictEqual(entries.length, text.trim().split("\n").length)
    assert.isTrue(entries.some((entry) => entry.mountPoint === "/"))
  })
})

const isRoot = process.getuid?.() === 0
const canUnshare = isRoot && spawnSync("unshare", ["-m", "--propagation", "private", "true"]).status === 0
if (!canUnshare) {
  console.log(
    "mounter.test.ts: skipping real mounts — they need root and `unshare -m` (a private mount namespace keeps them from leaking)",
  )
}

const node = path.resolve("node_modules/.bin/node")
const fixture = path.resolve("test/volume/mount-fixture.ts")

/** Runs one fixture scenario in a private mount namespace over a fresh base directory. */
const runFixture = async (scenario: string, via: MountVia): Promise<Record<string, unknown>> => {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), "csi-mount-"))
  const { stdout } = await promisify(execFile)(
    "unshare",
    ["-m", "--propagation", "private", node, fixture, scenario, base, via],
    { timeout: 30_000 },
  ).finally(() =>
    // the namespace died with the child, taking its mounts; only directories remain here
    fs.rm(base, { recursive: true, force: true }),
  )
  // The result is the last line; the Mounter's own log lines come before it.
  const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as {
    ok?: Record<string, unknown>
    failure?: string
  }
  if (result.ok === undefined) assert.fail(`fixture ${scenario} failed: ${result.failure}`)
  return result.ok
}

describe.skipIf(!canUnshare).for(["syscall", "command"] as const)(
  "Mounter (live via %s, in a private mount namespace)",
  (via) => {
    it("ensureTmpfs mounts a 0700 tmpfs once, however often it is called", async () => {
      const result = await runFixture("tmpfs", via)
      assert.strictEqual(result.before, false)
      assert.strictEqual(result.after, true)
      const tmpfs = { fsType: "tmpfs", mountOptions: ["rw", "relatime"], superOptions: ["rw", "mode=700"] }
      assert.deepStrictEqual(result.first, [tmpfs])
      assert.deepStrictEqual(result.second, [tmpfs])
      assert.strictEqual(result.rootMode, 0o700)
    })

    it("bindReadOnly shows the source read-only at the target, once; a failed bind leaves nothing mounted", async () => {
      const result = await runFixture("bind", via)
      const first = result.first as Array<{ mountOptions: Array<string> }>
      assert.strictEqual(first.length, 1)
      assert.include(first[0]?.mountOptions, "ro")
      assert.deepStrictEqual(result.second, result.first)
      assert.strictEqual(result.readThrough, "cert-1")
      assert.strictEqual(result.writeThrough, "EROFS")
      assert.strictEqual(result.chmodThrough, "EROFS")
      assert.strictEqual(result.laterThrough, "written after the bind")
      assert.strictEqual(result.parentMode, 0o750)
      const failure = result.failure as { tag: string; message: string }
      assert.strictEqual(failure.tag, "MountError")
      assert.match(
        failure.message,
        /^bindReadOnly \/.*\/pods\/uid-2\/mount: ENOENT: no such file or directory, realpath '\/.*no-such-source'$/,
      )
      assert.strictEqual(result.badTargetMounted, false)
    })

    it("prepareBind makes the target now and mounts only when its result runs, once", async () => {
      const result = await runFixture("prepare", via)
      assert.deepStrictEqual(result.prepared, { targetExists: true, mounted: false })
      assert.strictEqual(result.mounts, 1)
      assert.strictEqual(result.mountsAfterSecond, 1)
      assert.match(
        String(result.failure),
        /^bindReadOnly \/.*\/pods\/uid-2\/mount: ENOENT: .*no-such-source'$/,
      )
      assert.strictEqual(result.badTargetMounted, false)
    })

    it("unbind takes off only the volume's own binds, removes the empty target, and leaves the rest", async () => {
      const result = await runFixture("unbind", via)
      const done = { _tag: "Unbound" }
      assert.deepStrictEqual(result.afterUnbind, {
        outcome: done,
        mounts: [],
        targetExists: false,
        sourceIntact: "cert-1",
      })
      assert.deepStrictEqual(result.again, [done, done])
      assert.strictEqual(result.stackedBefore, 2)
      assert.deepStrictEqual(result.stackedAfter, { mounts: 0, exists: false })
      const left =
        (reason: RegExp, mounts: number, extra: Record<string, unknown> = {}) =>
        (value: unknown) => {
          const { outcome, ...rest } = value as { outcome: { _tag: string; reason: string } }
          assert.strictEqual(outcome._tag, "LeftAlone")
          assert.match(outcome.reason, reason)
          assert.deepStrictEqual(rest, { mounts, exists: true, ...extra })
        }
      left(/^something else is mounted there \(tmpfs from "tmpfs", root "\/"\)$/, 1)(result.foreign)
      left(/^something else is mounted there \(tmpfs/, 2)(result.covered)
      left(/^something else is mounted there \(tmpfs from .*, root "\/vol-2\/data"\)$/, 1)(result.other)
      left(/^the directory is not empty$/, 0, { kept: true })(result.full)
      left(/^it is a regular file$/, 0)(result.file)
      left(/^something else is mounted there \(tmpfs from "tmpfs", root "\/"\)$/, 1, { sourceIntact: true })(
        result.root,
      )
    })

    it("unbind knows a bind by its root below the data root's tmpfs, now or on an earlier tmpfs", async () => {
      const result = await runFixture("unbind-roots", via)
      assert.deepStrictEqual(result.shown, ["/sub/vol-1/data"])
      assert.deepStrictEqual(result.belowRoot, { _tag: "Unbound" })
      assert.strictEqual(result.belowRootLeft, 0)
      assert.deepStrictEqual(result.replaced, { _tag: "Unbound" })
      assert.strictEqual(result.replacedLeft, 0)
    })

    it("adoptEarlier binds a target's earlier tmpfs back onto the new data directory, writable; unmountAll takes it off", async () => {
      const result = await runFixture("adopt", via)
      assert.strictEqual(result.notStale, false)
      assert.strictEqual(result.missingTarget, false)
      assert.strictEqual(result.adopted, true)
      const [mount, ...more] = result.dataDirMounts as Array<{ fsType: string; mountOptions: Array<string> }>
      assert.deepStrictEqual(more, [])
      assert.strictEqual(mount?.fsType, "tmpfs")
      assert.include(mount?.mountOptions, "rw")
      assert.strictEqual(result.seenInSource, "cert-1")
      assert.strictEqual(result.seenInView, "cert-2")
      assert.strictEqual(result.again, false)
      assert.strictEqual(result.bound, true)
      assert.deepStrictEqual(result.unbound, { _tag: "Unbound" })
      assert.strictEqual(result.targetMounts, 0)
      assert.strictEqual(result.dataDirMountsAfter, 0)
      assert.strictEqual(result.viewAfter, "cert-2")
    })

    it("inspect says what is at a path and where it resolves, following symlinks", async () => {
      const result = await runFixture("inspect", via)
      assert.deepStrictEqual(result, {
        missing: { resolved: "<base>/pods/uid/mount", kind: "missing", what: "missing" },
        directory: { resolved: "<base>/real/dir", kind: "directory", what: "a directory" },
        throughLink: { resolved: "<base>/real/dir/new/mount", kind: "missing", what: "missing" },
        linkAtTarget: { resolved: "<base>/real/dir", kind: "other", what: "a symbolic link" },
        file: { resolved: "<base>/file", kind: "other", what: "a regular file" },
        belowFile: {
          resolved: "<base>/file/mount",
          kind: "other",
          what: "below a file that is not a directory",
        },
        socket: { resolved: "<base>/sock", kind: "other", what: "a socket" },
        root: { resolved: "/", kind: "directory", what: "a directory" },
      })
    })

    it("the data-root liveness probe fails on a read-only mount and passes on the tmpfs", async () => {
      const result = await runFixture("health-ro", via)
      assert.match(String(result.readOnly), /EROFS/)
      assert.strictEqual(result.root, "passed")
    })

    it("RecordingMounter gives the same transcript as the live Mounter", async () => {
      const live = await runFixture("parity", via)
      const base = await fs.mkdtemp(path.join(os.tmpdir(), "csi-mount-fake-"))
      const fake = await Effect.runPromise(
        mountScenario(base).pipe(Effect.provide(RecordingMounter.layer)),
      ).finally(() => fs.rm(base, { recursive: true, force: true }))
      assert.deepStrictEqual(JSON.parse(JSON.stringify(fake)), live)
      assert.deepStrictEqual(new Map(fake).get("target after bind"), true)
    })
  },
)

describe("RecordingMounter", () => {
  it.effect("records calls in order and answers isBound from its mounts", () =>
    Effect.gen(function* () {
      const mounter = yield* Mounter
      const recording = yield* RecordingMounter
      yield* mounter.ensureTmpfs("/csi-data-dir")
      yield* mounter.bindReadOnly("/csi-data-dir/vol-1/data", "/pods/uid/mount/")
      assert.isTrue(yield* mounter.isBound("/csi-data-dir/vol-1/data", "/pods/uid/mount"))
      assert.deepStrictEqual(
        yield* recording.mounts,
        new Map([
          ["/csi-data-dir", { kind: "tmpfs" as const }],
          [
            "/pods/uid/mount",
            { kind: "bind" as const, source: "/csi-data-dir/vol-1/data", readOnly: true as const },
          ],
        ]),
      )
      assert.deepStrictEqual(yield* mounter.unbind("/csi-data-dir/vol-1/data", "/pods/uid/mount"), {
        _tag: "Unbound",
      })
      assert.isFalse(yield* mounter.isMountPoint("/pods/uid/mount"))
      assert.deepStrictEqual(yield* recording.calls, [
        { operation: "ensureTmpfs", path: "/csi-data-dir" },
        { operation: "bindReadOnly", source: "/csi-data-dir/vol-1/data", target: "/pods/uid/mount/" },
        { operation: "isBound", source: "/csi-data-dir/vol-1/data", target: "/pods/uid/mount" },
        { operation: "unbind", source: "/csi-data-dir/vol-1/data", target: "/pods/uid/mount" },
        { operation: "isMountPoint", path: "/pods/uid/mount" },
      ])
    }).pipe(Effect.provide(RecordingMounter.layer)),
  )

  it.effect(
    "leaves what is not its own: other mounts, files, full directories; follows placed symlinks",
    () =>
      Effect.gen(function* () {
        const mounter = yield* Mounter
        const recording = yield* RecordingMounter
        const source = "/csi-data-dir/vol-1/data"
        yield* recording.mountOther("/pods/a/mount", "nfs from server:/export")
        yield* recording.place("/pods/b/mount", { kind: "file", what: "a socket" })
        yield* recording.place("/pods/c/mount", { kind: "directory", empty: false })
        yield* recording.place("/var/lib/kubelet", { kind: "symlink", to: "/data/kubelet" })
        const outcome = (target: string) => mounter.unbind(source, target)
        assert.deepStrictEqual(yield* outcome("/pods/a/mount"), {
          _tag: "LeftAlone",
          reason: "something else is mounted there (nfs from server:/export)",
        })
        assert.deepStrictEqual(yield* outcome("/pods/b/mount"), {
          _tag: "LeftAlone",
          reason: "it is a socket",
        })
        assert.deepStrictEqual(yield* outcome("/pods/c/mount"), {
          _tag: "LeftAlone",
          reason: "the directory is not empty",
        })
        assert.deepStrictEqual(yield* mounter.inspect("/var/lib/kubelet/pods/x/mount"), {
          resolved: "/data/kubelet/pods/x/mount",
          kind: "missing",
          what: "missing",
        })
        // ours on top of another mount: ours goes, the other stays
        yield* mounter.bindReadOnly(source, "/pods/a/mount")
        assert.isTrue(yield* mounter.isBound(source, "/pods/a/mount"))
        assert.strictEqual((yield* outcome("/pods/a/mount"))._tag, "LeftAlone")
        assert.deepStrictEqual((yield* recording.mounts).get("/pods/a/mount"), {
          kind: "other",
          description: "nfs from server:/export",
        })
      }).pipe(Effect.provide(RecordingMounter.layer)),
  )

  it.effect("fails the next call (of an operation, when named) once, changing nothing", () =>
    Effect.gen(function* () {
      const mounter = yield* Mounter
      const recording = yield* RecordingMounter
      yield* recording.failNext("mount: permission denied", "bindReadOnly")
      assert.isFalse(yield* mounter.isMountPoint("/t"))
      const error = yield* Effect.flip(mounter.bindReadOnly("/s", "/t"))
      assert.instanceOf(error, MountError)
      assert.strictEqual(error.message, "bindReadOnly /t: mount: permission denied")
      assert.isFalse(yield* mounter.isMountPoint("/t"))
      yield* mounter.bindReadOnly("/s", "/t")
      assert.isTrue(yield* mounter.isMountPoint("/t"))

      yield* recording.failNext("umount: busy")
      const next = yield* Effect.flip(mounter.unbind("/s", "/t"))
      assert.strictEqual(next.operation, "unbind")
      assert.isTrue(yield* mounter.isMountPoint("/t"))
      assert.strictEqual((yield* recording.calls).length, 7)
    }).pipe(Effect.provide(RecordingMounter.layer)),
  )
})

describe.skipIf(!canUnshare)("Mounter (live via syscall, statx)", () => {
  it("tells a fresh target, the volume's bind and a foreign mount apart without reading mountinfo, reading it only to describe a foreign mount", async () => {
    const result = await runFixture("statx", "syscall")
    // native/mount.c: 0 unmounted, 1 a bind of the source, 2 something else mounted
    assert.deepStrictEqual(result.direct, { root: 2, dir: 0, missing: 0, foreignOfSource: 2 })
    assert.strictEqual(result.beforeBind, false)
    assert.deepStrictEqual(result.bound, {
      ofSource: 1,
      ofOther: 2,
      mountPoint: 2,
      isBound: true,
      isMountPoint: true,
    })
    assert.strictEqual(result.mounts, 1)
    assert.deepStrictEqual(result.unbound, { _tag: "Unbound" })
    assert.strictEqual(result.after, 0)
    assert.match(String(result.foreignUnbind), /^unbind .*\/foreign: ENOENT: .*no-mountinfo'$/)
  })
})

describe("native mount helper", () => {
  it("is built and loads; a path that is not it is refused with the reason", () => {
    assert.isTrue(Result.isSuccess(loadMountAddon()), "npm run native builds build/Release/mount.node")
    const missing = loadMountAddon(path.join(os.tmpdir(), "no-such-helper.node"))
    assert.isTrue(Result.isFailure(missing))
    if (Result.isFailure(missing)) assert.match(missing.failure, /no-such-helper\.node/)
  })

  it.effect("reports the kernel's errno like Node does, naming the call and the target", () =>
    Effect.gen(function* () {
      const addon = loadMountAddon()
      if (Result.isFailure(addon)) return assert.fail(addon.failure)
      const calls = syscallMounts(addon.success)
      // Unprivileged, mount(2) says EPERM first; as root the missing paths say ENOENT.
      const bind = yield* Effect.flip(calls.bindReadOnly("/no-such-source", "/no-such-target"))
      assert.match(
        bind.message,
        /^bindReadOnly \/no-such-target: (ENOENT: no such file or directory|EPERM: operation not permitted), mount '\/no-such-target'$/,
      )
      const writable = yield* Effect.flip(calls.bindWritable("/no-such-source", "/no-such-target"))
      assert.match(
        writable.message,
        /^bindWritable \/no-such-target: (ENOENT|EPERM): .*, mount '\/no-such-target'$/,
      )
      const unmount = yield* Effect.flip(calls.unmount("/no-such-target"))
      assert.match(
        unmount.message,
        /^unmount \/no-such-target: (ENOENT|EPERM): .*, umount '\/no-such-target'$/,
      )
    }),
  )
})

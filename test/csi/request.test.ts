import { Effect, Exit, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { decodePublish, decodeUnpublish, InvalidRequest } from "../../src/csi/request.js"
import type { NodePublishVolumeRequest__Output } from "../../src/gen/csi/v1/NodePublishVolumeRequest.js"

const call = { method: "NodePublishVolume", deadline: undefined }
const dataRoot = "/var/lib/csi-data"

const valid = (): NodePublishVolumeRequest__Output => ({
  volume_id: "csi-abc",
  publish_context: {},
  staging_target_path: "",
  target_path: "/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/tls/mount",
  volume_capability: {
    mount: { fs_type: "", mount_flags: [], volume_mount_group: "2000" },
    access_mode: { mode: "SINGLE_NODE_WRITER" },
    access_type: "mount",
  },
  readonly: true,
  secrets: {},
  volume_context: {
    "csi.cert-manager.io/issuer-name": "ca-issuer",
    "csi.storage.k8s.io/pod.name": "my-csi-app",
    "csi.storage.k8s.io/pod.namespace": "sandbox",
    "csi.storage.k8s.io/pod.uid": "u",
    "csi.storage.k8s.io/serviceAccount.name": "default",
    "csi.storage.k8s.io/ephemeral": "true",
  },
})

const problemsOf = (request: NodePublishVolumeRequest__Output) => {
  const exit = Effect.runSyncExit(decodePublish(request, call, dataRoot))
  if (Exit.isSuccess(exit)) return []
  return Effect.runSync(Effect.flip(decodePublish(request, call, dataRoot))).problems
}

describe("decodePublish", () => {
  it("accepts what kubelet sends for an inline ephemeral volume", () => {
    const decoded = Effect.runSync(decodePublish(valid(), call, dataRoot))
    expect(decoded.pod).toEqual({
      name: "my-csi-app",
      namespace: "sandbox",
      uid: "u",
      serviceAccountName: "default",
    })
    expect(decoded.volumeMountGroup).toBe("2000")
    expect(decoded.token).toBeUndefined()
  })

  it.each([
    [
      "volume_id",
      (r: NodePublishVolumeRequest__Output) => ({ ...r, volume_id: "" }),
      "volume_id is required",
    ],
    [
      "target_path",
      (r: NodePublishVolumeRequest__Output) => ({ ...r, target_path: "" }),
      "target_path is required",
    ],
    [
      "volume_capability",
      (r: NodePublishVolumeRequest__Output) => ({ ...r, volume_capability: null }),
      "volume_capability is required",
    ],
    [
      "block access",
      (r: NodePublishVolumeRequest__Output) => ({
        ...r,
        volume_capability: {
          block: {},
          access_mode: { mode: "SINGLE_NODE_WRITER" as const },
          access_type: "block" as const,
        },
      }),
      "block volumes are not supported",
    ],
    ["readonly", (r: NodePublishVolumeRequest__Output) => ({ ...r, readonly: false }), "readOnly: true"],
    [
      "ephemeral",
      (r: NodePublishVolumeRequest__Output) => ({
        ...r,
        volume_context: { ...r.volume_context, "csi.storage.k8s.io/ephemeral": "false" },
      }),
      'csi.storage.k8s.io/ephemeral must be "true"',
    ],
    [
      "pod info",
      (r: NodePublishVolumeRequest__Output) => {
        const { "csi.storage.k8s.io/pod.uid": _, ...rest } = r.volume_context
        return { ...r, volume_context: rest }
      },
      "podInfoOnMount: true",
    ],
    [
      "unsafe volume id",
      (r: NodePublishVolumeRequest__Output) => ({ ...r, volume_id: "../etc" }),
      "volume_id",
    ],
  ])("rejects a bad %s, saying what to fix", (_name, change, expected) => {
    const problems = problemsOf(change(valid()))
    expect(problems.join("; ")).toContain(expected)
  })

  it("reports every problem at once", () => {
    const problems = problemsOf({ ...valid(), volume_id: "", target_path: "", readonly: false })
    expect(problems).toHaveLength(3)
  })

  it("reads the API-server-audience token from volume_context or secrets, never printing it", () => {
    const tokens = JSON.stringify({
      "": { token: "s3cret-token", expirationTimestamp: "2030-01-01T00:00:00Z" },
    })
    for (const where of ["volume_context", "secrets"] as const) {
      const request = valid()
      const withToken =
        where === "secrets"
          ? { ...request, secrets: { "csi.storage.k8s.io/serviceAccount.tokens": tokens } }
          : {
              ...request,
              volume_context: {
                ...request.volume_context,
                "csi.storage.k8s.io/serviceAccount.tokens": tokens,
              },
            }
      const decoded = Effect.runSync(decodePublish(withToken, call, dataRoot))
      expect(Redacted.value(decoded.token!.token)).toBe("s3cret-token")
      expect(JSON.stringify(decoded)).not.toContain("s3cret-token")
    }
  })

  it("names the missing audience instead of echoing a malformed token", () => {
    const bad = {
      ...valid(),
      secrets: {
        "csi.storage.k8s.io/serviceAccount.tokens":
          '{"vault":{"token":"abc","expirationTimestamp":"2030-01-01T00:00:00Z"}}',
      },
    }
    expect(problemsOf(bad).join()).toContain('{audience: ""}')
    const garbage = { ...valid(), secrets: { "csi.storage.k8s.io/serviceAccount.tokens": "not-json-s3cret" } }
    expect(problemsOf(garbage).join()).not.toContain("s3cret")
  })
})

describe("decodeUnpublish", () => {
  it("requires volume_id and target_path", () => {
    const exit = Effect.runSyncExit(decodeUnpublish({ volume_id: "", target_path: "" }, call, dataRoot))
    expect(Exit.isFailure(exit)).toBe(true)
  })
})

const kubeletTarget = "/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/tls/mount"

/** The problems of a publish and of an unpublish with `target_path` = `target`; both must agree. */
const targetProblems = (target: string) => {
  const publish = problemsOf({ ...valid(), target_path: target })
  const unpublish = Effect.runSyncExit(
    Effect.flip(decodeUnpublish({ volume_id: "csi-abc", target_path: target }, call, dataRoot)),
  )
  const unpublishProblems = Exit.isSuccess(unpublish) ? unpublish.value.problems : []
  expect(unpublishProblems).toEqual(publish)
  return publish
}

describe("target_path", () => {
  it.each([
    ["kubelet's own", kubeletTarget],
    ["spaces and non-ASCII", "/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/my vol ü/mount"],
    ["exactly 4096 bytes", `/${"a/".repeat(2046)}ab`],
    ["a 255-byte component", `/var/lib/kubelet/${"x".repeat(255)}/mount`],
    ["a sibling of the data root sharing its prefix", "/var/lib/csi-data-2/mount"],
  ])("accepts %s", (_name, target) => {
    expect(Buffer.byteLength(target)).toBeLessThanOrEqual(4096)
    expect(targetProblems(target)).toEqual([])
  })

  it.each([
    ["empty", "", "target_path is required"],
    ["relative", "pods/u/mount", "must be an absolute path"],
    ["climbing out of the cwd", "../x", "must be an absolute path"],
    ["with ..", "/var/lib/kubelet/pods/../../../etc/mount", "must be normalized"],
    ["with .", "/var/lib/kubelet/./pods/mount", "must be normalized"],
    ["with //", "/var/lib/kubelet//pods/mount", "must be normalized"],
    ["with a trailing /", `${kubeletTarget}/`, "must be normalized"],
    ["/", "/", "must not be /"],
    ["with a NUL byte", "/var/lib/kubelet/pods/u\0/mount", "must not contain a NUL byte"],
    ["10 KB long", `/${"a".repeat(10_240)}`, "is 10241 bytes long; the limit is 4096"],
    ["4097 bytes long", `/${"a/".repeat(2047)}ab`, "is 4097 bytes long"],
    ["with a 256-byte component", `/var/lib/kubelet/${"é".repeat(128)}/mount`, "component of 256 bytes"],
    ["the data root", dataRoot, 'is the driver\'s data root (--data-root="/var/lib/csi-data")'],
    ["inside the data root", `${dataRoot}/csi-abc/data`, "is inside the driver's data root"],
    ["above the data root", "/var/lib", "contains the driver's data root"],
  ])("refuses one %s, naming target_path and what kubelet sends", (_name, target, expected) => {
    const problems = targetProblems(target)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain(expected)
    expect(problems[0]).toMatch(/^target_path /)
    if (target !== "")
      expect(problems[0]).toContain("/pods/<pod-uid>/volumes/kubernetes.io~csi/<volume-name>/mount")
    expect(problems[0]!.length).toBeLessThan(600)
  })

  it("quotes a bad path cut to its first 120 and last 40 characters, with its length in bytes", () => {
    const [problem] = targetProblems(`relative/${"ü".repeat(5000)}/end`)
    expect(problem).toContain(`"relative/${"ü".repeat(111)}"…"${"ü".repeat(36)}/end" (10013 bytes)`)
    expect(problem!.length).toBeLessThan(400)
    expect(targetProblems("/a\0b/mount")[0]).toContain('"/a\\u0000b/mount"')
  })
})

describe("volume_capability", () => {
  const withCapability = (capability: Record<string, unknown> | null) =>
    problemsOf({ ...valid(), volume_capability: capability } as unknown as NodePublishVolumeRequest__Output)
  const mount = { fs_type: "", mount_flags: [], volume_mount_group: "" }

  it.each(["SINGLE_NODE_WRITER", "SINGLE_NODE_READER_ONLY"])("accepts a mount volume in mode %s", (mode) => {
    expect(withCapability({ mount, access_mode: { mode }, access_type: "mount" })).toEqual([])
  })

  it.each([
    ["MULTI_NODE_READER_ONLY", 'volume_capability.access_mode "MULTI_NODE_READER_ONLY" is not supported'],
    ["MULTI_NODE_SINGLE_WRITER", '"MULTI_NODE_SINGLE_WRITER" is not supported'],
    ["MULTI_NODE_MULTI_WRITER", '"MULTI_NODE_MULTI_WRITER" is not supported'],
    ["SINGLE_NODE_SINGLE_WRITER", '"SINGLE_NODE_SINGLE_WRITER" is not supported'],
    ["SINGLE_NODE_MULTI_WRITER", '"SINGLE_NODE_MULTI_WRITER" is not supported'],
    ["UNKNOWN", "volume_capability.access_mode is required"],
    [42, '"42" is not supported'],
  ])("refuses access mode %s, saying which are valid", (mode, expected) => {
    const problems = withCapability({ mount, access_mode: { mode }, access_type: "mount" })
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain(expected)
    expect(problems[0]).toContain("use SINGLE_NODE_WRITER")
  })

  it("refuses a missing access mode", () => {
    expect(withCapability({ mount, access_mode: null, access_type: "mount" })[0]).toContain(
      "volume_capability.access_mode is required",
    )
  })

  it("refuses block and a missing access type, saying mount is required", () => {
    const block = withCapability({
      block: {},
      access_mode: { mode: "SINGLE_NODE_WRITER" },
      access_type: "block",
    })
    expect(block).toHaveLength(1)
    expect(block[0]).toMatch(/^volume_capability asks for a block volume: block volumes are not supported/)
    const none = withCapability({ access_mode: { mode: "SINGLE_NODE_WRITER" } })
    expect(none).toHaveLength(1)
    expect(none[0]).toContain("volume_capability has no access type: it must be mount")
  })
})

describe("InvalidRequest", () => {
  it("keeps its message under 2 KiB, saying how many problems it left out", () => {
    const problems = Array.from({ length: 50 }, (_, i) => `problem ${i} ${"x".repeat(100)}`)
    const message = new InvalidRequest({ problems }).message
    expect(Buffer.byteLength(message)).toBeLessThanOrEqual(2048)
    expect(message).toMatch(/; and \d+ more problems$/)
    expect(
      Buffer.byteLength(new InvalidRequest({ problems: ["ü".repeat(5000)] }).message),
    ).toBeLessThanOrEqual(2048)
    expect(
      Buffer.byteLength(new InvalidRequest({ problems: ["€".repeat(700), "b"] }).message),
    ).toBeLessThanOrEqual(2048)
    expect(new InvalidRequest({ problems: ["a", "b"] }).message).toBe("a; b")
  })
})

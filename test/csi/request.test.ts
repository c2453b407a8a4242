import { Effect, Exit, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { decodePublish, decodeUnpublish } from "../../src/csi/request.js"
import type { NodePublishVolumeRequest__Output } from "../../src/gen/csi/v1/NodePublishVolumeRequest.js"

const call = { method: "NodePublishVolume", deadline: undefined }

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
  const exit = Effect.runSyncExit(decodePublish(request, call))
  if (Exit.isSuccess(exit)) return []
  return Effect.runSync(Effect.flip(decodePublish(request, call))).problems
}

describe("decodePublish", () => {
  it("accepts what kubelet sends for an inline ephemeral volume", () => {
    const decoded = Effect.runSync(decodePublish(valid(), call))
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
      const decoded = Effect.runSync(decodePublish(withToken, call))
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
    const exit = Effect.runSyncExit(decodeUnpublish({ volume_id: "", target_path: "" }, call))
    expect(Exit.isFailure(exit)).toBe(true)
  })
})

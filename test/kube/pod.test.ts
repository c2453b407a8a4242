import { describe, expect, it } from "vitest"
import { decodePod, decodePodBySchema } from "../../src/kube/pod.js"
import { expectSameDecodes } from "../support/mutations.js"

describe("decodePod is the pod Schema's decode", () => {
  const full = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "p",
      namespace: "ns",
      uid: "u",
      resourceVersion: "7",
      annotations: { a: "1", b: "" },
      deletionTimestamp: "2026-01-01T00:00:00Z",
      labels: { app: "x" },
    },
    spec: { nodeName: "n" },
    status: {
      podIP: "10.0.0.1",
      podIPs: [{ ip: "10.0.0.1" }, { ip: "" }, { ip: "fd00::1" }],
      conditions: [
        { type: "Ready", status: "True", lastTransitionTime: "t" },
        { type: "PodScheduled", status: "False" },
      ],
      phase: "Running",
    },
  }
  it("over every one-step corruption of a full pod: the same verdict, the same pod", () => {
    expect(expectSameDecodes(full, decodePod, decodePodBySchema)).toBeGreaterThan(400)
  })
})

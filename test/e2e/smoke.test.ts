import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { canMount, whyNoMounts } from "../support/driver-process.js"
import { type Harness, seedAttributes, startHarness } from "./support.js"

describe.skipIf(!canMount)("smoke", () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(async () => {
    await h?.close()
  })

  it("publishes the seed pod", async () => {
    const pod = await h.sandbox.registerPod({ namespace: "sandbox", name: "my-csi-app" })
    const uid = String((pod.metadata as { uid: string }).uid)
    const published = await h.kubelet.publish(
      { name: "my-csi-app", namespace: "sandbox", uid },
      seedAttributes,
    )
    if (!published.result.ok) console.log(published.result.details, h.driver.logs())
    expect(published.result.ok).toBe(true)
    const cert = await h.kubelet.readFile(published.targetPath, "tls.crt")
    expect(cert.toString()).toContain("BEGIN CERTIFICATE")
  })
})
if (!canMount) console.warn(whyNoMounts)

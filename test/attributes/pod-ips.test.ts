// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} in plain strings is the syntax under test
import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { decodeAttributes } from "../../src/attributes/parse.js"
import { needsContinueOnNotReady, podIpAttributes, withStandInIps } from "../../src/attributes/pod-ips.js"
import type { PodInfo } from "../../src/attributes/spec.js"

const P = "csi.cert-manager.io/"
const pod: PodInfo = { name: "web-0", namespace: "shop", uid: "u-1", serviceAccountName: "web" }
const issuer = { [`${P}issuer-name`]: "ca-issuer" }

const specWith = (attributes: Record<string, string>, ips: ReadonlyArray<string>) => {
  const decoded = decodeAttributes({ ...issuer, ...attributes }, { ...pod, ips })
  if (Result.isFailure(decoded)) throw new Error(decoded.failure.message)
  return decoded.success
}

describe("${POD_IP} and ${POD_IPS}", () => {
  it("ip-sans takes the pod's addresses: one for POD_IP, each of a dual-stack pod for POD_IPS", () => {
    expect(specWith({ [`${P}ip-sans`]: "${POD_IP}" }, ["10.0.0.7", "fd00::7"]).ipAddresses).toStrictEqual([
      "10.0.0.7",
    ])
    expect(
      specWith({ [`${P}ip-sans`]: "${POD_IPS},192.0.2.9" }, ["10.0.0.7", "fd00::7"]).ipAddresses,
    ).toStrictEqual(["10.0.0.7", "fd00::7", "192.0.2.9"])
  })

  it("expand wherever the other pod variables do", () => {
    const spec = specWith(
      {
        [`${P}common-name`]: "${POD_NAME} at ${POD_IP}",
        [`${P}dns-names`]: "${POD_IP}.nip.io",
        [`${P}uri-sans`]: "spiffe://cluster.local/ip/${POD_IP}",
      },
      ["10.0.0.7"],
    )
    expect(spec.subject.commonName).toBe("web-0 at 10.0.0.7")
    expect(spec.dnsNames).toStrictEqual(["10.0.0.7.nip.io"])
    expect(spec.uris).toStrictEqual(["spiffe://cluster.local/ip/10.0.0.7"])
  })

  it("a volume is known to use them from its attributes, in attribute order", () => {
    expect(
      podIpAttributes({
        ...issuer,
        [`${P}uri-sans`]: "spiffe://x/$POD_IPS",
        [`${P}ip-sans`]: "${POD_IP}",
        [`${P}dns-names`]: "${POD_NAME}.svc",
        [`${P}issuer-kind`]: "${POD_IP}",
      }),
    ).toStrictEqual([`${P}ip-sans`, `${P}uri-sans`])
    expect(podIpAttributes({ ...issuer, [`${P}dns-names`]: "${POD_IPX}" })).toStrictEqual([])
  })

  it("stand-in addresses let a volume be checked at publish, before the pod has any", () => {
    const decoded = decodeAttributes({ ...issuer, [`${P}ip-sans`]: "${POD_IPS}" }, withStandInIps(pod))
    expect(Result.isSuccess(decoded)).toBe(true)
    const bad = decodeAttributes({ ...issuer, [`${P}ip-sans`]: "${POD_IP},nope" }, withStandInIps(pod))
    expect(Result.isFailure(bad) && bad.failure.message).toContain('"nope" is not an IP address')
  })

  it("without --continue-on-not-ready, each attribute that uses them says what to change", () => {
    expect(needsContinueOnNotReady([`${P}ip-sans`]).message).toBe(
      `${P}ip-sans: uses \${POD_IP} or \${POD_IPS}, but kubelet mounts the volume before the pod has an IP: run the driver with --continue-on-not-ready, which mounts at once and requests the certificate when the pod has an IP`,
    )
  })
})

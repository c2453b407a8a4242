/**
 * Issuance end to end: the built driver in a private mount namespace, the sandbox
 * API server and CA issuer, a kubelet-like client, real tmpfs and bind mounts, and
 * every output checked with openssl.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import * as grpc from "@grpc/grpc-js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { maxConnections } from "../../src/kube/client.js"
import { canMount, whyNoMounts } from "../support/driver-process.js"
import type { Pod } from "../support/kubelet.js"
import { opensslOk, tempDir } from "../support/openssl.js"
import { type Harness, newPod as newPodIn, seedAttributes, startHarness } from "./support.js"

const t = tempDir()

describe.skipIf(!canMount)("issuance", () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(async () => {
    await h?.close()
    t.cleanup()
  })

  const newPod = (name?: string, namespace?: string): Promise<Pod> => newPodIn(h, { name, namespace })

  /** Copies a mounted file out so openssl can read it; returns the copy's path. */
  const copyOut = async (targetPath: string, name: string) => {
    const file = t.file(`${randomUUID()}-${name}`, await h.kubelet.readFile(targetPath, name))
    return file
  }

  const requestsOf = async (pod: Pod) =>
    (await h.sandbox.listCertificateRequests(pod.namespace)).filter((cr) =>
      JSON.stringify(cr.metadata.ownerReferences ?? []).includes(pod.uid),
    )

  it("mounts the seed page's example: key made on the node, certificate and CA from the issuer", async () => {
    const pod = await newPod("my-csi-app")
    const { result, targetPath } = await h.kubelet.publish(pod, seedAttributes)
    expect(result.details).toBe("")
    const cert = await copyOut(targetPath, "tls.crt")
    const key = await copyOut(targetPath, "tls.key")
    const ca = await copyOut(targetPath, "ca.crt")
    expect(opensslOk(["verify", "-CAfile", ca, cert])).toContain("OK")
    const certKey = opensslOk(["x509", "-in", cert, "-noout", "-pubkey"])
    expect(opensslOk(["pkey", "-in", key, "-pubout"])).toBe(certKey)
    const text = opensslOk(["x509", "-in", cert, "-noout", "-text"])
    expect(text).toContain("DNS:my-csi-app.sandbox.svc.cluster.local")
    expect(text).toMatch(/Digital Signature, Key Encipherment/)
    // Defaults: RSA 2048 in PKCS#1.
    expect((await h.kubelet.readFile(targetPath, "tls.key")).toString()).toContain("BEGIN RSA PRIVATE KEY")
    expect(opensslOk(["rsa", "-in", key, "-noout", "-text"])).toContain("Private-Key: (2048 bit")
    // One request, created by the driver, owned by the pod, labelled for node and volume.
    const [request, ...others] = await requestsOf(pod)
    expect(others).toHaveLength(0)
    expect(request?.metadata.labels).toHaveProperty("csi.cert-manager.io/node-id-hash")
    expect(request?.metadata.labels).toHaveProperty("csi.cert-manager.io/volume-id-hash")
    expect(request?.spec).toMatchObject({
      issuerRef: { name: "ca-issuer", kind: "Issuer", group: "cert-manager.io" },
      duration: "720h0m0s",
      isCA: false,
      usages: ["digital signature", "key encipherment"],
      username: "system:serviceaccount:cert-manager:cert-manager-csi-driver",
    })
  })

  it("mounts read-only on tmpfs, with upstream's modes, group-owned by fs-group", async () => {
    const pod = await newPod()
    const { result, targetPath } = await h.kubelet.publish(pod, {
      ...seedAttributes,
      "csi.cert-manager.io/fs-group": "2000",
    })
    expect(result.ok).toBe(true)
    const mounts = h.namespace.mounts()
    const line = mounts.split("\n").find((l) => l.split(" ")[4] === targetPath)
    expect(line).toMatch(/\bro\b/)
    expect(line).toContain("tmpfs")
    for (const name of ["tls.crt", "tls.key", "ca.crt"]) {
      const stat = await fs.stat(h.kubelet.viewOf(path.join(targetPath, name)))
      expect(stat.mode & 0o777).toBe(0o440)
      expect(stat.gid).toBe(2000)
    }
    await expect(fs.writeFile(h.kubelet.viewOf(path.join(targetPath, "x")), "x")).rejects.toThrow(
      /EROFS|EACCES/,
    )
  })

  it("falls back to the pod's fsGroup passed as volume_mount_group", async () => {
    const pod = await newPod()
    const { result, targetPath } = await h.kubelet.publish(pod, seedAttributes, { fsGroup: "3000" })
    expect(result.ok).toBe(true)
    expect((await fs.stat(h.kubelet.viewOf(path.join(targetPath, "tls.key")))).gid).toBe(3000)
  })

  it("honours every certificate attribute", async () => {
    const pod = await newPod("attrs")
    const { result, targetPath } = await h.kubelet.publish(pod, {
      "csi.cert-manager.io/issuer-name": "ca-issuer",
      "csi.cert-manager.io/common-name": "${SERVICE_ACCOUNT_NAME}.${POD_NAMESPACE}",
      "csi.cert-manager.io/organizations": "Acme\\, Inc,Example",
      "csi.cert-manager.io/organizationalunits": "Platform",
      "csi.cert-manager.io/countries": "DE",
      "csi.cert-manager.io/provinces": "Berlin",
      "csi.cert-manager.io/localities": "Berlin",
      "csi.cert-manager.io/streetaddresses": "Unter den Linden 1",
      "csi.cert-manager.io/postalcodes": "10117",
      "csi.cert-manager.io/serialnumber": "1234",
      "csi.cert-manager.io/dns-names": "a.example.com, b.example.com",
      "csi.cert-manager.io/ip-sans": "192.0.2.1,2001:db8::1",
      "csi.cert-manager.io/uri-sans": "spiffe://cluster.local/ns/${POD_NAMESPACE}/pod/${POD_NAME}/${POD_UID}",
      "csi.cert-manager.io/duration": "48h",
      "csi.cert-manager.io/is-ca": "true",
      "csi.cert-manager.io/key-usages": "cert sign,server auth,client auth",
      "csi.cert-manager.io/key-algorithm": "ECDSA",
      "csi.cert-manager.io/key-size": "384",
      "csi.cert-manager.io/key-encoding": "PKCS8",
      "csi.cert-manager.io/certificate-file": "cert.pem",
      "csi.cert-manager.io/privatekey-file": "key.pem",
      "csi.cert-manager.io/ca-file": "issuer.pem",
      "example.com/team": "payments",
    })
    expect(result.details).toBe("")
    const cert = await copyOut(targetPath, "cert.pem")
    const key = await copyOut(targetPath, "key.pem")
    const ca = await copyOut(targetPath, "issuer.pem")
    expect(opensslOk(["verify", "-CAfile", ca, cert])).toContain("OK")
    const text = opensslOk(["x509", "-in", cert, "-noout", "-text", "-nameopt", "RFC2253"])
    expect(text).toContain("CN=default.sandbox")
    expect(text).toContain("O=Acme\\, Inc")
    expect(text).toContain("O=Example")
    expect(text).toMatch(/OU=Platform/)
    expect(text).toMatch(/C=DE/)
    expect(text).toMatch(/ST=Berlin/)
    expect(text).toMatch(/L=Berlin/)
    expect(text).toMatch(/street=Unter den Linden 1/)
    expect(text).toMatch(/postalCode=10117/)
    expect(text).toMatch(/serialNumber=1234/)
    expect(text).toContain("DNS:a.example.com, DNS:b.example.com")
    expect(text).toContain("IP Address:192.0.2.1")
    expect(text).toContain("IP Address:2001:DB8:0:0:0:0:0:1")
    expect(text).toContain(`URI:spiffe://cluster.local/ns/sandbox/pod/attrs/${pod.uid}`)
    expect(text).toContain("CA:TRUE")
    expect(text).toContain("Certificate Sign")
    expect(text).toContain("TLS Web Server Authentication, TLS Web Client Authentication")
    expect(text).toContain("ASN1 OID: secp384r1")
    // Validity: 48 hours.
    const dates = opensslOk(["x509", "-in", cert, "-noout", "-startdate", "-enddate"])
    const [start, end] = dates.split("\n").map((l) => Date.parse(l.split("=")[1] ?? ""))
    expect((end! - start!) / 3_600_000).toBeCloseTo(48, 0)
    expect((await h.kubelet.readFile(targetPath, "key.pem")).toString()).toContain("BEGIN PRIVATE KEY")
    expect(opensslOk(["pkey", "-in", key, "-pubout"])).toBe(
      opensslOk(["x509", "-in", cert, "-noout", "-pubkey"]),
    )
    const [request] = await requestsOf(pod)
    expect(request?.metadata.annotations).toEqual({ "example.com/team": "payments" })
    expect(request?.spec).toMatchObject({ duration: "48h0m0s", isCA: true })
  })

  it("writes a literal subject as given", async () => {
    const pod = await newPod()
    const { result, targetPath } = await h.kubelet.publish(pod, {
      "csi.cert-manager.io/issuer-name": "ca-issuer",
      "csi.cert-manager.io/literal-subject": "CN=${POD_NAME},OU=a+OU=b,O=Literal Org",
      "csi.cert-manager.io/key-algorithm": "Ed25519",
    })
    expect(result.details).toBe("")
    const text = opensslOk([
      "x509",
      "-in",
      await copyOut(targetPath, "tls.crt"),
      "-noout",
      "-subject",
      "-nameopt",
      "RFC2253",
    ])
    expect(text).toContain(`CN=${pod.name}`)
    expect(text).toContain("O=Literal Org")
    expect(opensslOk(["pkey", "-in", await copyOut(targetPath, "tls.key"), "-noout", "-text"])).toContain(
      "ED25519",
    )
  })

  it.each([
    ["RSA", "3072", "PKCS8", "BEGIN PRIVATE KEY", "3072 bit"],
    ["ECDSA", "256", "", "BEGIN PRIVATE KEY", "prime256v1"],
    ["ECDSA", "521", "", "BEGIN PRIVATE KEY", "secp521r1"],
  ])("key %s %s %s", async (algorithm, size, encoding, header, detail) => {
    const pod = await newPod()
    const { result, targetPath } = await h.kubelet.publish(pod, {
      ...seedAttributes,
      "csi.cert-manager.io/key-algorithm": algorithm,
      "csi.cert-manager.io/key-size": size,
      ...(encoding === "" ? {} : { "csi.cert-manager.io/key-encoding": encoding }),
    })
    expect(result.details).toBe("")
    expect((await h.kubelet.readFile(targetPath, "tls.key")).toString()).toContain(header)
    expect(opensslOk(["pkey", "-in", await copyOut(targetPath, "tls.key"), "-noout", "-text"])).toContain(
      detail,
    )
  })

  it("a denied request fails with the approver's reason and leaves nothing behind", async () => {
    const pod = await newPod()
    const { result, volumeId, targetPath } = await h.kubelet.publish(pod, {
      ...seedAttributes,
      "csi.cert-manager.io/issuer-name": "deny-issuer",
    })
    expect(result.code).toBe(grpc.status.FAILED_PRECONDITION)
    expect(result.details).toMatch(/was denied/)
    expect(result.details).toContain("deny-issuer")
    await expectNothingLeft(volumeId, targetPath, pod)
  })

  it("a failed request fails with the issuer's message and leaves nothing behind", async () => {
    const pod = await newPod()
    const { result, volumeId, targetPath } = await h.kubelet.publish(pod, {
      ...seedAttributes,
      "csi.cert-manager.io/issuer-name": "fail-issuer",
    })
    expect(result.code).toBe(grpc.status.FAILED_PRECONDITION)
    expect(result.details).toMatch(/failed/)
    await expectNothingLeft(volumeId, targetPath, pod)
  })

  it("a malformed certificate is an error, and the driver stays up", async () => {
    const pod = await newPod()
    const { result, volumeId, targetPath } = await h.kubelet.publish(pod, {
      ...seedAttributes,
      "csi.cert-manager.io/issuer-name": "malformed-issuer",
    })
    expect(result.code).toBe(grpc.status.FAILED_PRECONDITION)
    expect(result.details).toContain("unusable certificate")
    await expectNothingLeft(volumeId, targetPath, pod)
    expect((await h.kubelet.csi.call("identity", "Probe", {})).ok).toBe(true)
  })

  it("an issuer that never answers: DEADLINE_EXCEEDED naming the request, then the retry attaches to it", async () => {
    const pod = await newPod()
    const attributes = { ...seedAttributes, "csi.cert-manager.io/issuer-name": "later-issuer" }
    const first = await h.kubelet.publish(pod, attributes, { deadlineMs: 3_000 })
    expect(first.result.code).toBe(grpc.status.DEADLINE_EXCEEDED)
    const [request] = await requestsOf(pod)
    expect(first.result.details).toContain(String(request?.metadata.name))
    expect(first.result.details).toContain("later-issuer")
    await h.sandbox.setIssuerBehaviour("later-issuer", { _tag: "Sign" })
    const retry = await h.kubelet.publish(pod, attributes)
    expect(retry.result.details).toBe("")
    expect(await requestsOf(pod)).toHaveLength(1)
    expect((await h.kubelet.readFile(retry.targetPath, "tls.crt")).toString()).toContain("BEGIN CERTIFICATE")
  })

  it("two concurrent publishes of one volume both succeed with one request and the files present", async () => {
    const pod = await newPod()
    const attributes = { ...seedAttributes, "csi.cert-manager.io/issuer-name": "slow-issuer" }
    await h.sandbox.setIssuerBehaviour("slow-issuer", { _tag: "Sign", delay: "1 second" })
    const [a, b] = await Promise.all([h.kubelet.publish(pod, attributes), h.kubelet.publish(pod, attributes)])
    expect([a.result.details, b.result.details]).toEqual(["", ""])
    expect(await requestsOf(pod)).toHaveLength(1)
    expect((await h.kubelet.readFile(a.targetPath, "tls.crt")).toString()).toContain("BEGIN CERTIFICATE")
  })

  it("50 concurrent publishes of distinct volumes all succeed, over a bounded number of API connections", async () => {
    const pods = await Promise.all(Array.from({ length: 50 }, () => newPod()))
    await h.sandbox.resetStats()
    const results = await Promise.all(
      pods.map((pod) =>
        h.kubelet.publish(pod, { ...seedAttributes, "csi.cert-manager.io/key-algorithm": "ECDSA" }),
      ),
    )
    expect(results.map((r) => r.result.details)).toEqual(results.map(() => ""))
    // One per request would be 50 TLS handshakes; the watch's connection is among these.
    expect((await h.sandbox.stats()).maxOpenConnections).toBeLessThanOrEqual(maxConnections)
    for (const r of results.slice(0, 5)) {
      expect((await h.kubelet.readFile(r.targetPath, "tls.crt")).toString()).toContain("BEGIN CERTIFICATE")
    }
    await Promise.all(results.map((r) => h.kubelet.unpublish(r.volumeId, r.targetPath)))
  })

  it("unpublish removes mount, directory and request; publish and unpublish are idempotent", async () => {
    const pod = await newPod()
    const first = await h.kubelet.publish(pod, seedAttributes)
    const again = await h.kubelet.publish(pod, seedAttributes)
    expect([first.result.ok, again.result.ok]).toEqual([true, true])
    expect(await requestsOf(pod)).toHaveLength(1)
    expect((await h.kubelet.unpublish(first.volumeId, first.targetPath)).ok).toBe(true)
    await expectNothingLeft(first.volumeId, first.targetPath, pod)
    expect((await h.kubelet.unpublish(first.volumeId, first.targetPath)).ok).toBe(true)
    // And it can be published again after.
    const third = await h.kubelet.publish(pod, seedAttributes)
    expect(third.result.ok).toBe(true)
  })

  const expectNothingLeft = async (volumeId: string, targetPath: string, pod: Pod) => {
    expect(h.namespace.mounts()).not.toContain(targetPath)
    await expect(fs.access(h.namespace.view(path.join(h.driver.dataRoot, volumeId)))).rejects.toThrow()
    // Deletion is asynchronous on the API side only in real clusters; here it is immediate.
    expect(await requestsOf(pod)).toHaveLength(0)
  }
})
if (!canMount) console.warn(whyNoMounts)

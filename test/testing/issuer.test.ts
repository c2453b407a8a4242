/**
 * The sandbox issuer, through the API as the driver would see it: every behaviour, the
 * certificate's contents checked with openssl, CSRs from openssl and @peculiar/x509,
 * malformed requests, behaviour changes, external approval and a CA given by the test.
 */
import "reflect-metadata"
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node"
import * as x509 from "@peculiar/x509"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { IssuerBehaviour } from "../../src/testing/issuer/behaviour.js"
import { type RunningSandbox, startSandbox } from "../../src/testing/sandbox.js"
import {
  type Clients,
  CR,
  type CrOptions,
  clientsFor,
  condition,
  crBody,
  eventually,
  makeCsr,
  openssl,
  raw,
  tempDir,
  verifyWithOpenssl,
  writeTemp,
  x509Text,
} from "./support.js"

let sb: RunningSandbox
let driver: Clients
let request: string

beforeAll(async () => {
  sb = await startSandbox({ issuers: { "slow-issuer": IssuerBehaviour.signAfter("300 millis") } })
  driver = clientsFor(sb, sb.driverToken)
  request = (await makeCsr({ commonName: "svc", dnsNames: ["svc.example.com"], ips: ["10.1.2.3"] })).request
})

afterAll(async () => {
  await sb?.close()
})

let counter = 0

// biome-ignore lint/suspicious/noExplicitAny: CertificateRequests are untyped JSON
type Cr = any

/** Creates a CertificateRequest and waits until `done` holds for it. */
const issue = async (
  options: Partial<CrOptions>,
  done: (cr: Cr) => boolean,
  clients = driver,
): Promise<Cr> => {
  const name = `cr-${++counter}`
  await clients.custom.createNamespacedCustomObject({
    ...CR,
    namespace: "issuer",
    body: crBody(name, { request, ...options }),
  })
  return eventually(async () => {
    const cr = await clients.custom.getNamespacedCustomObject({ ...CR, namespace: "issuer", name })
    return done(cr) ? cr : undefined
  })
}

const isReady = (cr: Cr) => condition(cr, "Ready")?.status === "True"
const readyReason = (reason: string) => (cr: Cr) => condition(cr, "Ready")?.reason === reason

describe("ca-issuer signs", () => {
  it("with the CSR's subject and SANs, spec.usages and isCA (openssl x509 -text)", async () => {
    const cr = await issue(
      { usages: ["digital signature", "cert sign", "client auth", "server auth"], isCA: true },
      isReady,
    )
    expect(await verifyWithOpenssl(sb.caPem, cr.status.certificate)).toContain("OK")
    const text = await x509Text(cr.status.certificate)
    expect(text).toContain("Subject: CN = svc")
    expect(text).toMatch(/CA:TRUE/)
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign/)
    expect(text).toMatch(/TLS Web Client Authentication, TLS Web Server Authentication/)
    expect(text).toMatch(/DNS:svc\.example\.com, IP Address:10\.1\.2\.3/)
    expect(condition(cr, "Ready")).toMatchObject({
      reason: "Issued",
      message: "Certificate fetched from issuer successfully",
    })
  })

  it("defaults to digital signature + key encipherment and 2160h; honours spec.duration", async () => {
    const plain = await issue({}, isReady)
    const text = await x509Text(plain.status.certificate)
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/)
    expect(text).not.toContain("Extended Key Usage")
    expect(text).toMatch(/CA:FALSE/)
    const lifetime = (cr: Cr) => {
      const cert = new x509.X509Certificate(Buffer.from(cr.status.certificate, "base64").toString())
      return cert.notAfter.getTime() - cert.notBefore.getTime()
    }
    expect(lifetime(plain)).toBe(2160 * 3600_000)
    expect(lifetime(await issue({ duration: "1h30m" }, isReady))).toBe(90 * 60_000)
  })

  it("signs a CSR made by `openssl req` (RSA), and openssl verifies the result", async () => {
    const dir = tempDir()
    const csrPath = `${dir}/req.csr`
    await openssl([
      "req",
      "-new",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${dir}/key.pem`,
      "-subj",
      "/CN=from-openssl/O=acme",
      "-addext",
      "subjectAltName=DNS:openssl.example.com",
      "-out",
      csrPath,
    ])
    const { readFileSync } = await import("node:fs")
    const csrPem = readFileSync(csrPath, "utf8")
    const cr = await issue(
      { request: Buffer.from(csrPem).toString("base64"), usages: ["server auth", "digital signature"] },
      isReady,
    )
    expect(await verifyWithOpenssl(sb.caPem, cr.status.certificate)).toContain("OK")
    const leaf = writeTemp(dir, "tls.crt", Buffer.from(cr.status.certificate, "base64").toString())
    // the certificate's key is the CSR's key
    const certKey = await openssl(["x509", "-in", leaf, "-noout", "-pubkey"])
    const reqKey = await openssl(["req", "-in", csrPath, "-noout", "-pubkey"])
    expect(certKey).toBe(reqKey)
    expect(await x509Text(cr.status.certificate)).toContain("Subject: CN = from-openssl, O = acme")
  })

  it("signs Ed25519 CSRs and empty-subject CSRs (SAN then critical)", async () => {
    const ed = (await makeCsr({ algorithm: "Ed25519", dnsNames: ["ed.example.com"] })).request
    const cr = await issue({ request: ed }, isReady)
    expect(await verifyWithOpenssl(sb.caPem, cr.status.certificate)).toContain("OK")
    const text = await x509Text(cr.status.certificate)
    expect(text).toContain("ED25519")
    expect(text).toMatch(/Subject Alternative Name: critical\s+DNS:ed\.example\.com/)
  })
})

describe("issuer behaviours", () => {
  it("slow-issuer: Pending first, Ready later", async () => {
    const started = Date.now()
    const pending = await issue({ issuer: "slow-issuer" }, readyReason("Pending"))
    expect(condition(pending, "Approved")?.status).toBe("True")
    const ready = await issue({ issuer: "slow-issuer" }, isReady)
    expect(Date.now() - started).toBeGreaterThanOrEqual(280)
    expect(await verifyWithOpenssl(sb.caPem, ready.status.certificate)).toContain("OK")
  })

  it("deny-issuer: Denied=True (never Approved), then Ready=False Denied with failureTime", async () => {
    const cr = await issue({ issuer: "deny-issuer" }, readyReason("Denied"))
    expect(condition(cr, "Denied")).toMatchObject({ status: "True" })
    expect(condition(cr, "Denied")?.message).toBeTruthy()
    expect(condition(cr, "Approved")).toBeUndefined()
    expect(condition(cr, "Ready")).toMatchObject({ status: "False", reason: "Denied" })
    expect(cr.status.failureTime).toMatch(/Z$/)
    expect(cr.status.certificate).toBeUndefined()
  })

  it("fail-issuer: Ready=False Failed with a message and failureTime", async () => {
    const cr = await issue({ issuer: "fail-issuer" }, readyReason("Failed"))
    expect(condition(cr, "Ready")?.message).toContain("fail-issuer")
    expect(cr.status.failureTime).toMatch(/Z$/)
  })

  it("an unknown issuer never answers (Pending) until it is given a behaviour", async () => {
    const cr = await issue({ issuer: "nobody" }, readyReason("Pending"))
    expect(condition(cr, "Ready")?.message).toBe(
      'Referenced "Issuer" not found: issuer.cert-manager.io "nobody" not found',
    )
    await sb.setIssuerBehaviour("nobody", IssuerBehaviour.sign())
    const signed = await eventually(async () => {
      const now = await driver.custom.getNamespacedCustomObject({
        ...CR,
        namespace: "issuer",
        name: cr.metadata.name,
      })
      return isReady(now) ? now : undefined
    })
    expect(await verifyWithOpenssl(sb.caPem, signed.status.certificate)).toContain("OK")
  })

  it("malformed-issuer: Ready=True with a certificate openssl cannot read", async () => {
    const cr = await issue({ issuer: "malformed-issuer" }, isReady)
    const failed = await x509Text(cr.status.certificate).then(
      () => "parsed",
      () => "rejected",
    )
    expect(failed).toBe("rejected")
    expect(Buffer.from(cr.status.ca, "base64").toString()).toContain("BEGIN CERTIFICATE")
  })

  it("a malformed CSR is refused by the webhook; a bad signature fails the request, the issuer goes on", async () => {
    const garbage = await raw(sb, "POST", "/apis/cert-manager.io/v1/namespaces/issuer/certificaterequests", {
      body: crBody("garbage", { request: Buffer.from("not a csr").toString("base64") }),
    })
    expect(garbage.status).toBe(406)
    expect(garbage.json().message).toBe(
      'admission webhook "webhook.cert-manager.io" denied the request: spec.request: Invalid value: []byte{0x6e, 0x6f, 0x74, 0x20, 0x61, 0x20, 0x63, 0x73, 0x72}: failed to decode csr: error decoding certificate request PEM block',
    )
    const pem = Buffer.from(request, "base64").toString()
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s/g, ""), "base64")
    der[der.length - 3] = der[der.length - 3]! ^ 0xff
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`
    const bad = await issue({ request: Buffer.from(tampered).toString("base64") }, readyReason("Failed"))
    expect(condition(bad, "Ready")?.message).toMatch(/signature/)
    await issue({}, isReady)
  })
})

describe("approval and CAs", () => {
  it("with autoApprove off, nothing happens until someone approves", async () => {
    const manual = await startSandbox({ autoApprove: false })
    try {
      const c = clientsFor(manual)
      await c.custom.createNamespacedCustomObject({ ...CR, namespace: "m", body: crBody("m", { request }) })
      await new Promise((r) => setTimeout(r, 150))
      const untouched = await c.custom.getNamespacedCustomObject({ ...CR, namespace: "m", name: "m" })
      expect(untouched.status).toBeUndefined()
      await c.custom.patchNamespacedCustomObjectStatus(
        {
          ...CR,
          namespace: "m",
          name: "m",
          body: {
            status: { conditions: [{ type: "Approved", status: "True", reason: "test", message: "ok" }] },
          },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      )
      const signed = await eventually(async () => {
        const cr = await c.custom.getNamespacedCustomObject({ ...CR, namespace: "m", name: "m" })
        return isReady(cr) ? cr : undefined
      })
      expect(await verifyWithOpenssl(manual.caPem, signed.status.certificate)).toContain("OK")
    } finally {
      await manual.close()
    }
  })

  it("signs with (and serves TLS from) a CA the test provides", async () => {
    const dir = tempDir()
    await openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-384",
      "-nodes",
      "-keyout",
      `${dir}/ca.key`,
      "-out",
      `${dir}/ca.crt`,
      "-subj",
      "/CN=test root",
      "-days",
      "2",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ])
    const { readFileSync } = await import("node:fs")
    const caPem = readFileSync(`${dir}/ca.crt`, "utf8")
    const own = await startSandbox({
      ca: { certificatePem: caPem, privateKeyPem: readFileSync(`${dir}/ca.key`, "utf8") },
    })
    try {
      expect(own.caPem.trim()).toBe(caPem.trim())
      // the TLS handshake itself trusts only the given CA
      expect((await raw({ ...own, caPem }, "GET", "/version")).status).toBe(200)
      const c = clientsFor(own)
      await c.custom.createNamespacedCustomObject({ ...CR, namespace: "own", body: crBody("o", { request }) })
      const cr = await eventually(async () => {
        const got = await c.custom.getNamespacedCustomObject({ ...CR, namespace: "own", name: "o" })
        return isReady(got) ? got : undefined
      })
      expect(await verifyWithOpenssl(caPem, cr.status.certificate)).toContain("OK")
      // capped at the CA's own notAfter (two days), not the default 90 days
      const leaf = new x509.X509Certificate(Buffer.from(cr.status.certificate, "base64").toString())
      expect(leaf.notAfter.getTime()).toBeLessThanOrEqual(new x509.X509Certificate(caPem).notAfter.getTime())
    } finally {
      await own.close()
    }
    const mismatched = await startSandbox({
      ca: {
        certificatePem: caPem,
        privateKeyPem: (await openssl(["genpkey", "-algorithm", "ed25519"])).trim(),
      },
    }).then(
      () => "started",
      (e: unknown) => String((e as { reason?: string }).reason),
    )
    expect(mismatched).toContain("does not match")
  })
})

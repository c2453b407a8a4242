/**
 * The sandbox's version of cert-manager's webhook check of a CertificateRequest's CSR
 * against `spec.usages`: through the API (status code and Status body, as kube-apiserver
 * returns a webhook's denial) and case by case through the rule itself. The CSR the
 * driver used to send for an is-ca volume with explicit key-usages is refused; ours passes.
 */
import "reflect-metadata"
import { webcrypto } from "node:crypto"
import * as x509 from "@peculiar/x509"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { KeyUsage } from "../../src/attributes/spec.js"
import { buildCsr } from "../../src/pki/index.js"
import { requestUsages } from "../../src/pki/usages.js"
import { csrCauses } from "../../src/testing/api-server/csr-admission.js"
import { type RunningSandbox, startSandbox } from "../../src/testing/sandbox.js"
import { generate, keySpec, makeSpec } from "../pki/support.js"
import { type Clients, CR, clientsFor, condition, crBody, eventually, raw, x509Text } from "./support.js"

const U = x509.KeyUsageFlags
const E = x509.ExtendedKeyUsage
const crypto = webcrypto as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[1]

/** `spec.request` for a CSR with just these usages (and a SAN), made with @peculiar/x509. */
const csrWith = async (keyUsage: number | undefined, ekus: ReadonlyArray<string> = []): Promise<string> => {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" }
  const keys = (await webcrypto.subtle.generateKey(alg, false, ["sign", "verify"])) as webcrypto.CryptoKeyPair
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: "CN=usages",
      keys,
      signingAlgorithm: alg,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "usages.example.com" }]),
        ...(keyUsage === undefined ? [] : [new x509.KeyUsagesExtension(keyUsage, true)]),
        ...(ekus.length === 0 ? [] : [new x509.ExtendedKeyUsageExtension([...ekus])]),
      ],
    },
    crypto,
  )
  return Buffer.from(csr.toString("pem")).toString("base64")
}

const messagesOf = (request: string, usages: ReadonlyArray<string>, isCA = false) =>
  csrCauses({ request, usages: [...usages], isCA }).map((c) => c.message)

const mismatch = "csr key usages do not match specified usages, these should match if both are set: "

describe("through the API", () => {
  let sb: RunningSandbox
  let admin: Clients
  beforeAll(async () => {
    sb = await startSandbox()
    admin = clientsFor(sb)
  })
  afterAll(async () => {
    await sb?.close()
  })

  const post = (name: string, request: string, spec: { usages?: ReadonlyArray<string>; isCA?: boolean }) =>
    raw(sb, "POST", "/apis/cert-manager.io/v1/namespaces/admission/certificaterequests", {
      body: crBody(name, { request, ...spec }),
    })

  it("refuses an isCA request whose CSR lacks cert sign: 406 NotAcceptable, the webhook's reason", async () => {
    // what the driver sent before: the listed usages only
    const request = await csrWith(U.digitalSignature, [E.serverAuth])
    const refused = await post("old-ca", request, {
      isCA: true,
      usages: ["digital signature", "server auth"],
    })
    expect(refused.status).toBe(406)
    const status = refused.json()
    expect(status).toMatchObject({
      kind: "Status",
      apiVersion: "v1",
      status: "Failure",
      reason: "NotAcceptable",
    })
    expect(status.code).toBe(406)
    const message = String(status.message)
    expect(message).toMatch(
      /^admission webhook "webhook\.cert-manager\.io" denied the request: spec\.request: Invalid value: \[\]byte\{0x2d, 0x2d, 0x2d, 0x2d, 0x2d, 0x42, 0x45, 0x47, 0x49, 0x4e, /,
    )
    expect(message.endsWith(`: ${mismatch}[[]certmanager.KeyUsage[2] != []certmanager.KeyUsage[3]]`)).toBe(
      true,
    )
  })

  it("accepts and issues the CSR the driver builds for is-ca with explicit key-usages", async () => {
    const spec = makeSpec({
      isCA: true,
      usages: ["digital signature", "server auth"],
      dnsNames: ["ca.example"],
    })
    const key = await generate(keySpec("ECDSA", 256, "PKCS8"))
    const request = Buffer.from(await Effect.runPromise(buildCsr(spec, key))).toString("base64")
    const created = await post("new-ca", request, { isCA: true, usages: requestUsages(spec.usages) })
    expect(created.status).toBe(201)
    const issued = await eventually(async () => {
      const cr = await admin.custom.getNamespacedCustomObject({
        ...CR,
        namespace: "admission",
        name: "new-ca",
      })
      return condition(cr, "Ready")?.status === "True" ? cr : undefined
    })
    const text = await x509Text(issued.status.certificate)
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign/)
    expect(text).toMatch(/CA:TRUE/)
  })
})

describe("the rule", () => {
  it("names each differing position when the lists are as long", async () => {
    const request = await csrWith(U.digitalSignature | U.keyAgreement)
    expect(messagesOf(request, ["digital signature", "server auth"])).toEqual([
      expect.stringMatching(/^Invalid value: \[\]byte\{0x2d, .*\}: /),
    ])
    expect(messagesOf(request, ["digital signature", "server auth"])[0]).toContain(
      `${mismatch}[[1]: "key agreement" != "server auth"]`,
    )
  })

  it("adds cert sign for isCA, once", async () => {
    const withCertSign = await csrWith(U.digitalSignature | U.keyCertSign, [E.serverAuth])
    expect(messagesOf(withCertSign, ["digital signature", "server auth"], true)).toEqual([])
    expect(messagesOf(withCertSign, ["cert sign", "digital signature", "server auth"], true)).toEqual([])
    // without isCA the same CSR asks for more than the spec
    expect(messagesOf(withCertSign, ["digital signature", "server auth"])).toHaveLength(1)
  })

  it("compares as multisets, with signing and digital signature as one", async () => {
    const request = await csrWith(U.digitalSignature, [E.clientAuth, E.serverAuth])
    expect(messagesOf(request, ["server auth", "signing", "client auth"])).toEqual([])
    expect(messagesOf(request, ["server auth", "signing", "digital signature", "client auth"])).toEqual([])
    expect(messagesOf(request, ["server auth", "client auth"])).toHaveLength(1)
  })

  it("skips the comparison for the default pair in that order, a CSR without usages, or without extensions", async () => {
    const request = await csrWith(U.keyCertSign)
    expect(messagesOf(request, ["digital signature", "key encipherment"])).toEqual([])
    expect(messagesOf(request, ["key encipherment", "digital signature"])).toHaveLength(1)
    expect(messagesOf(await csrWith(undefined), ["server auth", "code signing"])).toEqual([])
    // a CSR asking for exactly the default pair passes whatever the spec lists
    expect(messagesOf(await csrWith(U.digitalSignature | U.keyEncipherment), ["server auth"])).toEqual([])
  })

  it("refuses a repeated usage or s/mime as listed; the spec.usages we send pass", async () => {
    const key = await generate(keySpec("ECDSA", 256, "PKCS8"))
    const cases: ReadonlyArray<ReadonlyArray<KeyUsage>> = [
      ["server auth", "server auth"],
      ["key encipherment", "server auth", "key encipherment"],
      ["s/mime", "digital signature"],
      ["email protection", "s/mime"],
    ]
    for (const usages of cases) {
      const pem = await Effect.runPromise(buildCsr(makeSpec({ usages, dnsNames: ["a.example"] }), key))
      const request = Buffer.from(pem).toString("base64")
      expect(messagesOf(request, usages), usages.join(",")).toHaveLength(1)
      expect(messagesOf(request, requestUsages(usages)), usages.join(",")).toEqual([])
    }
    expect(requestUsages(["s/mime", "signing", "digital signature", "email protection", "any"])).toEqual([
      "email protection",
      "signing",
      "any",
    ])
  })

  it("refuses a CSR that does not decode, naming why", () => {
    const request = Buffer.from(
      "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
    ).toString("base64")
    expect(messagesOf(request, [])[0]).toMatch(/: failed to decode csr: failed to parse csr: /)
  })
})

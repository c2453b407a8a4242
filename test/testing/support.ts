/**
 * Shared helpers for the sandbox tests: CSRs (from @peculiar/x509 or `openssl req`),
 * CertificateRequest bodies, real clients (client-node and raw HTTPS) pointed at a
 * sandbox, watch recorders, polling, and openssl calls.
 */
import "reflect-metadata"
import { execFile } from "node:child_process"
import { webcrypto } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import * as https from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { CoreV1Api, CustomObjectsApi, KubeConfig, Watch } from "@kubernetes/client-node"
import * as x509 from "@peculiar/x509"
import type { RunningSandbox } from "../../src/testing/sandbox.js"

const crypto = webcrypto as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[1]

export const CR = { group: "cert-manager.io", version: "v1", plural: "certificaterequests" } as const

export interface CsrOptions {
  readonly commonName?: string
  readonly dnsNames?: ReadonlyArray<string>
  readonly ips?: ReadonlyArray<string>
  readonly algorithm?: "ECDSA" | "RSA" | "Ed25519"
}

/** A PEM CSR signed by a fresh key, and its base64 as `spec.request` wants it. */
export const makeCsr = async (options: CsrOptions = {}): Promise<{ pem: string; request: string }> => {
  const alg =
    options.algorithm === "RSA"
      ? {
          name: "RSASSA-PKCS1-v1_5",
          hash: "SHA-256",
          publicExponent: new Uint8Array([1, 0, 1]),
          modulusLength: 2048,
        }
      : options.algorithm === "Ed25519"
        ? { name: "Ed25519" }
        : { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" }
  const keys = (await webcrypto.subtle.generateKey(alg, false, ["sign", "verify"])) as webcrypto.CryptoKeyPair
  const names = [
    ...(options.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(options.ips ?? []).map((value) => ({ type: "ip" as const, value })),
  ]
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: options.commonName === undefined ? "" : `CN=${options.commonName}`,
      keys,
      signingAlgorithm: alg,
      // critical when the subject is empty, as RFC 5280 asks and our driver's CSRs do
      extensions:
        names.length > 0
          ? [new x509.SubjectAlternativeNameExtension(names, options.commonName === undefined)]
          : [],
    },
    crypto,
  )
  const pem = csr.toString("pem")
  return { pem, request: Buffer.from(pem).toString("base64") }
}

export interface CrOptions {
  readonly issuer?: string
  readonly request: string
  readonly duration?: string
  readonly isCA?: boolean
  readonly usages?: ReadonlyArray<string>
  readonly labels?: Record<string, string>
  readonly owner?: { readonly name: string; readonly uid: string }
  readonly generateName?: string
}

export const crBody = (name: string | undefined, o: CrOptions) => ({
  apiVersion: "cert-manager.io/v1",
  kind: "CertificateRequest",
  metadata: {
    ...(name === undefined ? {} : { name }),
    ...(o.generateName === undefined ? {} : { generateName: o.generateName }),
    ...(o.labels === undefined ? {} : { labels: o.labels }),
    ...(o.owner === undefined
      ? {}
      : { ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: o.owner.name, uid: o.owner.uid }] }),
  },
  spec: {
    request: o.request,
    issuerRef: { name: o.issuer ?? "ca-issuer", kind: "Issuer", group: "cert-manager.io" },
    ...(o.duration === undefined ? {} : { duration: o.duration }),
    ...(o.isCA === undefined ? {} : { isCA: o.isCA }),
    ...(o.usages === undefined ? {} : { usages: o.usages }),
  },
})

export interface Clients {
  readonly kc: KubeConfig
  readonly custom: CustomObjectsApi
  readonly core: CoreV1Api
  readonly watch: Watch
}

export const clientsFor = (sb: RunningSandbox, token?: string): Clients => {
  const kc = new KubeConfig()
  kc.loadFromString(sb.kubeconfig(token))
  return {
    kc,
    custom: kc.makeApiClient(CustomObjectsApi),
    core: kc.makeApiClient(CoreV1Api),
    watch: new Watch(kc),
  }
}

export interface RawResponse {
  readonly status: number
  readonly headers: Record<string, string | Array<string> | undefined>
  readonly text: string
  readonly json: () => Record<string, unknown>
}

/** One HTTPS request to the sandbox, trusting its CA; `token: null` sends no Authorization. */
export const raw = (
  sb: { readonly url: string; readonly caPem: string; readonly adminToken: string },
  method: string,
  path: string,
  options: { token?: string | null; body?: unknown; contentType?: string; accept?: string } = {},
): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const token = options.token === undefined ? sb.adminToken : options.token
    const body =
      options.body === undefined
        ? undefined
        : typeof options.body === "string"
          ? options.body
          : JSON.stringify(options.body)
    const req = https.request(
      new URL(path, sb.url),
      {
        method,
        ca: sb.caPem,
        agent: false,
        headers: {
          ...(token === null ? {} : { Authorization: `Bearer ${token}` }),
          ...(body === undefined ? {} : { "Content-Type": options.contentType ?? "application/json" }),
          ...(options.accept === undefined ? {} : { Accept: options.accept }),
        },
      },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) })
        })
        res.on("error", reject)
      },
    )
    req.on("error", reject)
    req.end(body)
  })

export interface WatchEvent {
  readonly type: string
  // biome-ignore lint/suspicious/noExplicitAny: watch objects are untyped JSON
  readonly object: any
}

export interface Recorder {
  readonly events: Array<WatchEvent>
  /** Resolves when the stream ends, with the error that ended it (null for a clean end). */
  readonly done: Promise<unknown>
  readonly stop: () => void
}

/** Records a client-node watch. */
export const record = async (
  clients: Clients,
  path: string,
  query: Record<string, string | number | boolean>,
): Promise<Recorder> => {
  const events: Array<WatchEvent> = []
  let finish: (e: unknown) => void = () => {}
  const done = new Promise<unknown>((r) => {
    finish = r
  })
  const controller = await clients.watch.watch(
    path,
    query,
    (type, object) => events.push({ type, object }),
    (err) => finish(err),
  )
  return { events, done, stop: () => controller.abort() }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls until `f` returns something other than undefined. */
export const eventually = async <A>(
  f: () => A | undefined | Promise<A | undefined>,
  timeoutMs = 5000,
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs}ms`)
    await sleep(20)
  }
}

// biome-ignore lint/suspicious/noExplicitAny: CertificateRequests come back as untyped JSON
export const condition = (cr: any, type: string): Record<string, string> | undefined =>
  // biome-ignore lint/suspicious/noExplicitAny: see above
  (cr?.status?.conditions ?? []).find((c: any) => c.type === type)

const run = promisify(execFile)

export const tempDir = (): string => mkdtempSync(join(tmpdir(), "sandbox-test-"))

export const writeTemp = (dir: string, name: string, data: string): string => {
  const path = join(dir, name)
  writeFileSync(path, data)
  return path
}

export const openssl = async (args: ReadonlyArray<string>): Promise<string> => {
  const { stdout, stderr } = await run("openssl", [...args])
  return stdout + stderr
}

/** Checks a base64 PEM chain against the sandbox CA with `openssl verify`; returns openssl's output. */
export const verifyWithOpenssl = async (caPem: string, certificateB64: string): Promise<string> => {
  const dir = tempDir()
  const ca = writeTemp(dir, "ca.crt", caPem)
  const leaf = writeTemp(dir, "tls.crt", Buffer.from(certificateB64, "base64").toString("utf8"))
  return openssl(["verify", "-CAfile", ca, leaf])
}

/** `openssl x509 -text` of the first certificate in a base64 PEM. */
export const x509Text = async (certificateB64: string): Promise<string> => {
  const dir = tempDir()
  const leaf = writeTemp(dir, "tls.crt", Buffer.from(certificateB64, "base64").toString("utf8"))
  return openssl(["x509", "-in", leaf, "-noout", "-text"])
}

/** Shared test support for the PKI tests: a spec builder and an `openssl` CLI runner over temp files. */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Duration, Effect, Redacted } from "effect"
import type { CertificateSpec, KeySpec } from "../../src/attributes/spec.js"
import { KeyGenerator, type PrivateKey } from "../../src/pki/keys.js"

export const keySpec = (
  algorithm: KeySpec["algorithm"],
  size: number,
  encoding: KeySpec["encoding"] = "PKCS1",
) => ({ algorithm, size, encoding }) satisfies KeySpec

export const makeSpec = (overrides: Partial<CertificateSpec> = {}): CertificateSpec => ({
  issuerRef: { name: "ca", kind: "Issuer", group: "cert-manager.io" },
  subject: {
    organizations: [],
    organizationalUnits: [],
    countries: [],
    provinces: [],
    localities: [],
    streetAddresses: [],
    postalCodes: [],
  },
  dnsNames: [],
  ipAddresses: [],
  uris: [],
  duration: Duration.hours(24),
  isCA: false,
  usages: ["digital signature", "key encipherment"],
  key: keySpec("ECDSA", 256, "PKCS8"),
  files: { certificate: "tls.crt", ca: "ca.crt", privateKey: "tls.key" },
  reusePrivateKey: false,
  annotations: {},
  ...overrides,
})

export const generate = (spec: KeySpec): Promise<PrivateKey> =>
  Effect.runPromise(KeyGenerator.use((g) => g.generate(spec)).pipe(Effect.provide(KeyGenerator.layer)))

export const pemOf = (key: PrivateKey): string => Redacted.value(key.pem)

/** A fresh temp dir per test file; removed by `cleanup`. */
export const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pki-test-"))
  return {
    dir,
    file: (name: string, content?: string | Uint8Array) => {
      const p = path.join(dir, name)
      if (content !== undefined) fs.writeFileSync(p, content)
      return p
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  }
}

export interface OpensslResult {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

export const openssl = (args: ReadonlyArray<string>, input?: string | Uint8Array): OpensslResult => {
  const r = spawnSync("openssl", args, { input, encoding: "utf8" })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Runs openssl and returns its raw stdout bytes (for binary output). */
export const opensslBytes = (args: ReadonlyArray<string>, input?: string | Uint8Array): Buffer => {
  const r = spawnSync("openssl", args, { input })
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed (${r.status}): ${r.stderr}`)
  return r.stdout
}

/** Runs openssl and fails the test with its stderr when it exits non-zero. */
export const opensslOk = (args: ReadonlyArray<string>, input?: string | Uint8Array): string => {
  const r = openssl(args, input)
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed (${r.status}): ${r.stderr}`)
  return r.stdout
}

/** Does this machine's openssl have the legacy provider (needed to read RC2)? */
export const hasLegacyProvider = (): boolean =>
  openssl(["list", "-cipher-algorithms", "-provider", "legacy"]).stdout.includes("RC2-40-CBC")

/** A throwaway CA: an EC key and a self-signed CA certificate, as files in `dir`. */
export const makeCa = (t: ReturnType<typeof tempDir>, name = "ca") => {
  const key = t.file(`${name}.key`)
  const cert = t.file(`${name}.crt`)
  opensslOk([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    key,
    "-subj",
    `/CN=${name} test CA`,
    "-days",
    "1",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-out",
    cert,
  ])
  return { key, cert, pem: fs.readFileSync(cert, "utf8") }
}

/** Signs a PEM CSR with the CA, copying its extensions; returns the certificate PEM. */
export const signCsr = (
  t: ReturnType<typeof tempDir>,
  ca: ReturnType<typeof makeCa>,
  csrPem: string,
  name: string,
) => {
  const csr = t.file(`${name}.csr`, csrPem)
  const out = t.file(`${name}.crt`)
  opensslOk([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-days",
    "1",
    "-copy_extensions",
    "copyall",
    "-out",
    out,
  ])
  return fs.readFileSync(out, "utf8")
}

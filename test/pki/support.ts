/** Shared test support for the PKI tests: a spec builder and an `openssl` CLI runner over temp files. */
import * as fs from "node:fs"
import { Duration, Effect, Redacted } from "effect"
import type { CertificateSpec, KeySpec } from "../../src/attributes/spec.js"
import { KeyGenerator, type PrivateKey } from "../../src/pki/keys.js"
import { opensslOk, type tempDir } from "../support/openssl.js"

export { hasLegacyProvider, openssl, opensslBytes, opensslOk, tempDir } from "../support/openssl.js"

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

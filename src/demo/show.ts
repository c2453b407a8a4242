/**
 * What the demo prints: the files a pod would see with their modes, what the
 * certificate says, the CertificateRequest behind it, and whether key and
 * certificate belong together.
 */
import { createPublicKey, X509Certificate } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Console, Effect } from "effect"

const mode = (bits: number) =>
  ["r", "w", "x", "r", "w", "x", "r", "w", "x"].map((c, i) => (bits & (0o400 >> i) ? c : "-")).join("")

export const readMounted = (targetPath: string, name: string) =>
  Effect.promise(() => fs.readFile(path.join(targetPath, name), "utf8"))

export const showFiles = (targetPath: string) =>
  Effect.gen(function* () {
    const names = (yield* Effect.promise(() => fs.readdir(targetPath))).filter(
      (name) => !name.startsWith(".."),
    )
    yield* Console.log(`  files in the pod's volume (${targetPath}):`)
    for (const name of names.sort()) {
      const stat = yield* Effect.promise(() => fs.stat(path.join(targetPath, name)))
      yield* Console.log(
        `    ${mode(stat.mode)}  uid=${stat.uid} gid=${stat.gid}  ${String(stat.size).padStart(5)}  ${name}`,
      )
    }
  })

const keyType = (cert: X509Certificate) => {
  const key = cert.publicKey
  const details = key.asymmetricKeyDetails
  if (key.asymmetricKeyType === "rsa") return `RSA ${details?.modulusLength ?? "?"} bits`
  if (key.asymmetricKeyType === "ec") return `ECDSA ${details?.namedCurve ?? "?"}`
  return String(key.asymmetricKeyType)
}

export const showCertificate = (certificatePem: string, keyPem: string, caPem: string) =>
  Effect.gen(function* () {
    const cert = new X509Certificate(certificatePem)
    const ca = new X509Certificate(caPem)
    const sameKey = createPublicKey(keyPem)
      .export({ type: "spki", format: "der" })
      .equals(cert.publicKey.export({ type: "spki", format: "der" }))
    yield* Console.log("  certificate:")
    yield* Console.log(
      `    subject:   ${(cert.subject ?? "").replaceAll("\n", ", ") || "(empty: the name is in the SANs)"}`,
    )
    yield* Console.log(`    SANs:      ${cert.subjectAltName ?? "(none)"}`)
    yield* Console.log(`    issuer:    ${(cert.issuer ?? "").replaceAll("\n", ", ")}`)
    yield* Console.log(
      `    validity:  ${cert.validFromDate.toISOString()} → ${cert.validToDate.toISOString()}`,
    )
    yield* Console.log(`    serial:    ${cert.serialNumber}`)
    yield* Console.log(`    key:       ${keyType(cert)}`)
    yield* Console.log(`  checks:`)
    yield* Console.log(`    private key matches certificate: ${sameKey ? "yes" : "NO"}`)
    yield* Console.log(`    certificate signed by ca.crt:     ${cert.verify(ca.publicKey) ? "yes" : "NO"}`)
    return { verified: sameKey && cert.verify(ca.publicKey), serial: cert.serialNumber }
  })

interface RequestView {
  readonly metadata: { readonly name?: string; readonly namespace?: string }
  readonly spec?: { readonly issuerRef?: { name?: string; kind?: string }; readonly username?: string }
  readonly status?: { readonly conditions?: ReadonlyArray<{ type: string; status: string; reason?: string }> }
}

export const showRequest = (object: unknown) =>
  Effect.gen(function* () {
    const request = object as RequestView
    const conditions = (request.status?.conditions ?? [])
      .map((c) => `${c.type}=${c.status}${c.reason === undefined ? "" : ` (${c.reason})`}`)
      .join(", ")
    yield* Console.log("  CertificateRequest:")
    yield* Console.log(`    name:       ${request.metadata.namespace}/${request.metadata.name}`)
    yield* Console.log(`    issuer:     ${request.spec?.issuerRef?.kind}/${request.spec?.issuerRef?.name}`)
    yield* Console.log(`    requester:  ${request.spec?.username}`)
    yield* Console.log(`    conditions: ${conditions}`)
  })

/**
 * Property tests over issuer answers, the way the driver reads them: a Ready
 * CertificateRequest's `status.certificate` and `status.ca` (base64 on the wire)
 * through `outcomeOf`, then `checkIssued`. Certificate fields are a good answer
 * under random edits (text, whitespace, blocks, labels), or any string or bytes at
 * all. For every input the check answers (no defect), accepts only what is exactly
 * good — the leaf the CA signed, in canonical form — and keeps its messages bounded
 * and free of PEM bodies.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result, Schema } from "effect"
import { TestClock } from "effect/testing"
import { beforeAll } from "vitest"
import { decodeCertificateRequest, outcomeOf } from "../../src/kube/certificate-request.js"
import { buildCsr, checkIssued, KeyGenerator, type PrivateKey } from "../../src/pki/index.js"
import { writePem } from "../../src/pki/pem.js"
import { generateCa } from "../../src/testing/issuer/ca.js"
import { signCertificateRequest } from "../../src/testing/issuer/sign.js"
import { keySpec, makeSpec } from "./support.js"

interface Fixture {
  readonly key: PrivateKey
  /** The leaf, canonical PEM, signed by `root`. */
  readonly leaf: string
  readonly root: string
  readonly other: string
  /** A private key block, to stand for secrets an issuer might leak into its answer. */
  readonly keyPem: string
  readonly validAt: number
}
let fx: Fixture

beforeAll(async () => {
  fx = await Effect.runPromise(
    Effect.gen(function* () {
      const key = yield* KeyGenerator.use((g) => g.generate(keySpec("ECDSA", 256, "PKCS8")))
      const csr = yield* buildCsr(makeSpec({ key: key.spec, dnsNames: ["app.example.com"] }), key)
      const root = yield* generateCa("property root CA")
      const other = yield* generateCa("property other CA")
      const signed = yield* signCertificateRequest(root, {
        apiVersion: "cert-manager.io/v1",
        kind: "CertificateRequest",
        metadata: { name: "r", namespace: "ns" },
        spec: { request: Buffer.from(csr).toString("base64"), duration: "24h" },
      })
      return {
        key,
        leaf: signed.certificatePem,
        root: root.certificatePem,
        other: other.certificatePem,
        keyPem: key.keyObject.export({ type: "pkcs8", format: "pem" }).toString(),
        validAt: Date.now(),
      }
    }).pipe(Effect.provide(KeyGenerator.layer)),
  )
})

const strip = (text: string) => text.replace(/[ \t\r\n]/g, "")
/** The base64 of the first block (or of everything, when the armour is gone). */
const bodyOf = (pem: string) =>
  strip(
    pem
      .split("\n")
      .filter((line) => !line.startsWith("-----"))
      .join(""),
  ).split("-----")[0] ?? ""
const bodyChunks = (pem: string) => bodyOf(pem).match(/.{24}/g) ?? []

const Edit = Schema.Struct({
  op: Schema.Literals([
    "insert",
    "delete",
    "replace",
    "whitespace",
    "append",
    "prepend",
    "relabel",
    "der-tail",
  ]),
  at: Schema.Int,
  text: Schema.String,
  space: Schema.Literals([" ", "\n", "\r\n", "\t", "\n\n"]),
})
type Edit = typeof Edit.Type

const labels = ["PRIVATE KEY", "CERTIFICATE REQUEST", "X509 CRL", "Certificate", "CERTIFICATE "]

const applyEdit = (text: string, edit: Edit): string => {
  const at = text.length === 0 ? 0 : Math.abs(edit.at) % text.length
  switch (edit.op) {
    case "insert":
      return `${text.slice(0, at)}${edit.text}${text.slice(at)}`
    case "delete":
      return `${text.slice(0, at)}${text.slice(at + 1 + (Math.abs(edit.at) % 3))}`
    case "replace":
      return `${text.slice(0, at)}${edit.text.slice(0, 1) || "A"}${text.slice(at + 1)}`
    case "whitespace":
      return `${text.slice(0, at)}${edit.space}${text.slice(at)}`
    case "append":
      return `${text}${[fx.root, fx.other, fx.keyPem, edit.text, `${edit.space}${edit.text}`][Math.abs(edit.at) % 5]}`
    case "prepend":
      return `${edit.text}${edit.space}${text}`
    case "der-tail": {
      // Bytes after the certificate inside its block, re-armoured: OpenSSL alone would not notice.
      const der = Buffer.from(bodyOf(text), "base64")
      const tail = Buffer.from(edit.text.length === 0 ? "\u0000" : edit.text)
      return writePem("CERTIFICATE", Buffer.concat([der, tail]))
    }
    case "relabel": {
      const label = labels[Math.abs(edit.at) % labels.length]!
      return text.replaceAll("CERTIFICATE-----", `${label}-----`)
    }
  }
}

const Answer = Schema.Struct({
  edits: Schema.Array(Edit).check(Schema.isMinLength(1), Schema.isMaxLength(3)),
  ca: Schema.Literals(["root", "other", "none", "root and other"]),
})

const caText = (ca: typeof Answer.Type.ca) => {
  switch (ca) {
    case "root":
      return fx.root
    case "other":
      return fx.other
    case "none":
      return ""
    case "root and other":
      return `${fx.other}${fx.root}`
  }
}

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")

/** What the driver does with a status: the outcome, then the check when there is a certificate. */
const answerTo = (status: Record<string, unknown>) =>
  Effect.gen(function* () {
    const decoded = decodeCertificateRequest({
      metadata: { name: "r", namespace: "ns" },
      spec: { issuerRef: { name: "ca-issuer" } },
      status,
    })
    assert.isTrue(Result.isSuccess(decoded))
    if (!Result.isSuccess(decoded)) return undefined
    const outcome = outcomeOf(decoded.success)
    if (outcome._tag !== "Issued") return { outcome, check: undefined }
    const check = yield* Effect.exit(checkIssued(outcome.certificatePem, outcome.caPem, fx.key))
    return { outcome, check }
  })

/** No defect; a refusal is CertificateInvalid with a bounded message that shows no PEM body. */
const assertAnswered = (
  check: Exit.Exit<unknown, unknown> | undefined,
  ...secrets: ReadonlyArray<string>
) => {
  if (check === undefined || Exit.isSuccess(check)) return
  const error = Exit.findErrorOption(check)
  assert.isTrue(error._tag === "Some", "a refusal is a typed error, never a defect")
  if (error._tag !== "Some") return
  const failure = error.value as { _tag: string; message: string }
  assert.strictEqual(failure._tag, "CertificateInvalid")
  assert.isAtMost(failure.message.length, 1100)
  assert.notInclude(failure.message, "-----")
  for (const secret of secrets)
    for (const chunk of bodyChunks(secret)) assert.notInclude(failure.message, chunk)
}

describe("issuer answers", () => {
  it.effect.prop(
    "a good answer under random edits: accepted only when it is still exactly the good leaf",
    { answer: Answer },
    ({ answer }) =>
      Effect.gen(function* () {
        yield* TestClock.setTime(fx.validAt)
        const text = answer.edits.reduce(applyEdit, fx.leaf)
        const result = yield* answerTo({
          conditions: [{ type: "Ready", status: "True", reason: "Issued" }],
          certificate: b64(text),
          ca: b64(caText(answer.ca)),
        })
        if (result === undefined) return
        assertAnswered(result.check, fx.leaf, fx.keyPem, fx.root)
        if (result.check === undefined || !Exit.isSuccess(result.check)) return
        const issued = result.check.value
        // Accepted: the blocks were canonical, only whitespace may differ, and the output is canonical.
        assert.strictEqual(strip(issued.certificatePem), strip(text))
        // Without status.ca nothing vouches for the signature: an edited certificate for our key passes.
        assert.include(["root", "none", "root and other"], answer.ca)
        if (answer.ca !== "none") {
          assert.isTrue(issued.certificatePem.startsWith(fx.leaf), "the leaf is the one the CA signed")
        }
        for (const line of issued.certificatePem.split("\n").slice(0, -1)) assert.isAtMost(line.length, 64)
        assert.isTrue(issued.certificatePem.endsWith("-----END CERTIFICATE-----\n"))
      }),
    { arbitrary: { runs: 500 } },
  )

  it.effect.prop(
    "any string or bytes in either field, under any Ready condition: answered, never accepted",
    {
      certificate: Schema.Union([Schema.String, Schema.Uint8Array]),
      ca: Schema.Union([Schema.String, Schema.Uint8Array]),
      ready: Schema.Literals(["True", "False"]),
      base64: Schema.Boolean,
    },
    ({ certificate, ca, ready, base64 }) =>
      Effect.gen(function* () {
        yield* TestClock.setTime(fx.validAt)
        const encode = (value: string | Uint8Array) =>
          typeof value === "string" ? (base64 ? b64(value) : value) : Buffer.from(value).toString("base64")
        const result = yield* answerTo({
          conditions: [{ type: "Ready", status: ready, reason: "Issued" }],
          certificate: encode(certificate),
          ca: encode(ca),
        })
        if (result === undefined) return
        assertAnswered(result.check)
        if (ready === "True") assert.notStrictEqual(result.outcome._tag, "Pending")
        assert.isFalse(result.check !== undefined && Exit.isSuccess(result.check))
      }),
    { arbitrary: { runs: 500 } },
  )

  it.effect("the unedited answer is accepted, so the properties above can tell good from bad", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(fx.validAt)
      const result = yield* answerTo({
        conditions: [{ type: "Ready", status: "True", reason: "Issued" }],
        certificate: b64(fx.leaf),
        ca: b64(fx.root),
      })
      assert.isTrue(result?.check !== undefined && Exit.isSuccess(result.check))
    }),
  )
})

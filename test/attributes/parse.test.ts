// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} in plain strings is the syntax under test
import { assert, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Redacted, Result } from "effect"
import type { AttributeProblem } from "../../src/attributes/errors.js"
import { InvalidAttributes } from "../../src/attributes/errors.js"
import { decodeAttributes, parseAttributes } from "../../src/attributes/parse.js"
import type { CertificateSpec, PodInfo } from "../../src/attributes/spec.js"
import { quoted } from "../../src/bounded.js"

const pod: PodInfo = { name: "my-csi-app", namespace: "sandbox", uid: "4a5b", serviceAccountName: "app-sa" }
const P = "csi.cert-manager.io/"

// The smallest valid request; each case adds or overrides attributes.
const base = { [`${P}issuer-name`]: "ca-issuer", [`${P}dns-names`]: "a.example.com" }

const specOf = (attributes: Record<string, string>, volumeMountGroup?: string): CertificateSpec => {
  const result = decodeAttributes({ ...base, ...attributes }, pod, volumeMountGroup)
  if (Result.isFailure(result)) throw new Error(`unexpected problems:\n${result.failure.message}`)
  return result.success
}

const problemsOf = (
  attributes: Record<string, string>,
  volumeMountGroup?: string,
  from: Record<string, string> = base,
): ReadonlyArray<AttributeProblem> => {
  const result = decodeAttributes({ ...from, ...attributes }, pod, volumeMountGroup)
  if (Result.isSuccess(result)) throw new Error(`expected problems, got ${JSON.stringify(result.success)}`)
  return result.failure.problems
}

const nanos = (d: Duration.Duration | undefined) => (d === undefined ? undefined : Duration.toNanosUnsafe(d))
const hours = (h: number) => BigInt(h) * 3_600_000_000_000n

describe("the seed page's example", () => {
  it.effect("decodes to the documented certificate", () =>
    Effect.gen(function* () {
      const spec = yield* parseAttributes(
        {
          "csi.cert-manager.io/issuer-name": "ca-issuer",
          "csi.cert-manager.io/issuer-kind": "Issuer",
          "csi.cert-manager.io/dns-names": "${POD_NAME}.${POD_NAMESPACE}.svc.cluster.local",
          "csi.storage.k8s.io/pod.name": "my-csi-app",
          "csi.storage.k8s.io/pod.namespace": "sandbox",
          "csi.storage.k8s.io/pod.uid": "4a5b",
          "csi.storage.k8s.io/serviceAccount.name": "app-sa",
          "csi.storage.k8s.io/ephemeral": "true",
        },
        pod,
      )
      const { duration, ...rest } = spec
      assert.strictEqual(nanos(duration), hours(720))
      assert.deepStrictEqual(rest, {
        issuerRef: { name: "ca-issuer", kind: "Issuer", group: "cert-manager.io" },
        subject: {
          organizations: [],
          organizationalUnits: [],
          countries: [],
          provinces: [],
          localities: [],
          streetAddresses: [],
          postalCodes: [],
        },
        dnsNames: ["my-csi-app.sandbox.svc.cluster.local"],
        ipAddresses: [],
        uris: [],
        isCA: false,
        usages: ["digital signature", "key encipherment"],
        key: { algorithm: "RSA", size: 2048, encoding: "PKCS1" },
        files: { certificate: "tls.crt", privateKey: "tls.key", ca: "ca.crt" },
        reusePrivateKey: false,
        annotations: {},
      })
    }),
  )

  it.effect("the variables example expands every documented variable", () =>
    Effect.gen(function* () {
      const spec = yield* parseAttributes(
        {
          "csi.cert-manager.io/issuer-name": "ca-issuer",
          "csi.cert-manager.io/dns-names": "${POD_NAME}.${POD_NAMESPACE}.svc.cluster.local",
          "csi.cert-manager.io/uri-sans":
            "spiffe://cluster.local/ns/${POD_NAMESPACE}/pod/${POD_NAME}/${POD_UID}",
          "csi.cert-manager.io/common-name": "${SERVICE_ACCOUNT_NAME}.${POD_NAMESPACE}",
        },
        pod,
      )
      assert.deepStrictEqual(spec.dnsNames, ["my-csi-app.sandbox.svc.cluster.local"])
      assert.deepStrictEqual(spec.uris, ["spiffe://cluster.local/ns/sandbox/pod/my-csi-app/4a5b"])
      assert.strictEqual(spec.subject.commonName, "app-sa.sandbox")
    }),
  )

  it.effect("fails with InvalidAttributes in the error channel", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(parseAttributes({}, pod))
      assert.instanceOf(error, InvalidAttributes)
      assert.strictEqual(error._tag, "InvalidAttributes")
      assert.strictEqual(error.problems.length, 2)
    }),
  )
})

describe("issuer", () => {
  it("issuer-name is required", () => {
    expect(problemsOf({}, undefined, { [`${P}dns-names`]: "a.example.com" })).toStrictEqual([
      {
        attribute: `${P}issuer-name`,
        message:
          "is required; set it to the name of the issuer that signs the certificate (an Issuer in the pod's namespace, or a ClusterIssuer with csi.cert-manager.io/issuer-kind: ClusterIssuer)",
      },
    ])
  })
  it("kind and group default to Issuer and cert-manager.io, and can be set", () => {
    expect(specOf({}).issuerRef).toStrictEqual({
      name: "ca-issuer",
      kind: "Issuer",
      group: "cert-manager.io",
    })
    expect(
      specOf({ [`${P}issuer-kind`]: "ClusterIssuer", [`${P}issuer-group`]: "out.of.tree.foo" }).issuerRef,
    ).toStrictEqual({ name: "ca-issuer", kind: "ClusterIssuer", group: "out.of.tree.foo" })
  })
  it("an empty value counts as not set, as upstream", () => {
    expect(problemsOf({ [`${P}issuer-name`]: "" }).map((p) => p.attribute)).toStrictEqual([`${P}issuer-name`])
    expect(specOf({ [`${P}issuer-kind`]: "" }).issuerRef.kind).toBe("Issuer")
  })
  it("issuer fields take no variables", () => {
    expect(specOf({ [`${P}issuer-name`]: "$POD_NAME" }).issuerRef.name).toBe("$POD_NAME")
  })
})

describe("subject", () => {
  it("splits the subject lists at commas, with \\, for a comma, and expands variables", () => {
    const spec = specOf({
      [`${P}organizations`]: "Acme\\, Inc., Example ,,",
      [`${P}organizationalunits`]: "${POD_NAMESPACE}",
      [`${P}countries`]: "GB,DE",
      [`${P}provinces`]: "Bavaria",
      [`${P}localities`]: "Munich,Berlin",
      [`${P}streetaddresses`]: "1 Main St\\, Floor 2",
      [`${P}postalcodes`]: "80331",
      [`${P}serialnumber`]: "1234",
      [`${P}common-name`]: "${POD_NAME}",
    })
    expect(spec.subject).toStrictEqual({
      commonName: "my-csi-app",
      organizations: ["Acme, Inc.", "Example"],
      organizationalUnits: ["sandbox"],
      countries: ["GB", "DE"],
      provinces: ["Bavaria"],
      localities: ["Munich", "Berlin"],
      streetAddresses: ["1 Main St, Floor 2"],
      postalCodes: ["80331"],
      serialNumber: "1234",
    })
    expect(spec.literalSubject).toBeUndefined()
  })

  it("serialnumber takes no variables", () => {
    expect(specOf({ [`${P}serialnumber`]: "${POD_UID}" }).subject.serialNumber).toBe("${POD_UID}")
  })

  it("literal-subject is kept, with variables expanded", () => {
    const spec = specOf({ [`${P}literal-subject`]: 'CN=${POD_NAME},OU=a\\,b+UID=1,O="Acme, Inc.",2.5.4.5=7' })
    expect(spec.literalSubject).toBe('CN=my-csi-app,OU=a\\,b+UID=1,O="Acme, Inc.",2.5.4.5=7')
  })

  it.each([
    ["CN=a,foo", '"foo" is not TYPE=value'],
    ["CN=a,,O=b", "it has an empty part (two separators in a row, or one at an end)"],
    ["CN=a,", "it has an empty part (two separators in a row, or one at an end)"],
    ["CN=a\\", 'it ends with an unfinished "\\" escape'],
    ['CN="a', "a quoted value is not closed"],
    ["CN=#04024869", 'the value of "CN" is hex-encoded (#...), which is not supported'],
    [
      "X=1",
      '"X" is not an attribute type (use CN, O, OU, C, ST, L, STREET, POSTALCODE, SERIALNUMBER, DC or UID or a numeric OID)',
    ],
  ])("literal-subject %j is refused: %s", (literal, why) => {
    expect(problemsOf({ [`${P}literal-subject`]: literal })).toStrictEqual([
      {
        attribute: `${P}literal-subject`,
        message: `${JSON.stringify(literal)} is not an RFC 4514 distinguished name: ${why}; write it as comma-separated TYPE=value pairs such as CN=my-app,O=my-org, escaping a comma in a value as \\,`,
      },
    ])
  })

  it("literal-subject cannot be combined with the fields it replaces", () => {
    expect(problemsOf({ [`${P}literal-subject`]: "CN=a", [`${P}common-name`]: "b" })).toStrictEqual([
      {
        attribute: `${P}literal-subject`,
        message:
          "cannot be combined with csi.cert-manager.io/common-name, which it replaces; remove that attribute (moving its value into the literal subject) or remove csi.cert-manager.io/literal-subject",
      },
    ])
    expect(
      problemsOf({
        [`${P}literal-subject`]: "CN=a",
        [`${P}organizations`]: "b",
        [`${P}serialnumber`]: "1",
      })[0]?.message,
    ).toBe(
      "cannot be combined with csi.cert-manager.io/organizations and csi.cert-manager.io/serialnumber, which it replaces; remove those attributes (moving their values into the literal subject) or remove csi.cert-manager.io/literal-subject",
    )
  })
})

describe("variables", () => {
  it("an unknown variable names it, suggests the nearest and lists the known ones", () => {
    expect(problemsOf({ [`${P}common-name`]: "${POD_NAMESPAC}.svc" })).toStrictEqual([
      {
        attribute: `${P}common-name`,
        message:
          '"${POD_NAMESPAC}.svc" uses the unknown variable "${POD_NAMESPAC}" (did you mean ${POD_NAMESPACE}?); the variables are ${POD_NAME}, ${POD_NAMESPACE}, ${POD_UID}, ${SERVICE_ACCOUNT_NAME}, ${POD_IP}, ${POD_IPS}',
      },
    ])
  })

  it("several unknown variables are named in one problem", () => {
    expect(problemsOf({ [`${P}dns-names`]: "$HOME.$1.example.com" })[0]?.message).toBe(
      '"$HOME.$1.example.com" uses the unknown variables "${HOME}" and "${1}"; the variables are ${POD_NAME}, ${POD_NAMESPACE}, ${POD_UID}, ${SERVICE_ACCOUNT_NAME}, ${POD_IP}, ${POD_IPS}',
    )
  })

  it.each([
    "common-name",
    "literal-subject",
    "organizations",
    "organizationalunits",
    "countries",
    "provinces",
    "localities",
    "streetaddresses",
    "postalcodes",
    "dns-names",
    "ip-sans",
    "uri-sans",
  ])("%s expands variables", (name) => {
    const problems = problemsOf({ [`${P}${name}`]: "${NOPE}", [`${P}common-name`]: "${NOPE}" })
    expect(problems.map((p) => p.attribute)).toContain(`${P}${name}`)
    expect(problems.find((p) => p.attribute === `${P}${name}`)?.message).toContain(
      'unknown variable "${NOPE}"',
    )
  })

  it.each(["issuer-name", "issuer-kind", "issuer-group", "serialnumber"])(
    "%s leaves $VAR as written",
    (name) => {
      expect(() => specOf({ [`${P}${name}`]: "${NOPE}" })).not.toThrow()
    },
  )

  it("os.Expand rules apply: a lone $ stays, ${} is eaten", () => {
    expect(specOf({ [`${P}common-name`]: "cost $ 5 ${}x" }).subject.commonName).toBe("cost $ 5 x")
  })
})

describe("SANs", () => {
  it("dns-names: entries trimmed, empty ones dropped, wildcards allowed", () => {
    expect(specOf({ [`${P}dns-names`]: " a.example.com , *.b.example.com,,c ," }).dnsNames).toStrictEqual([
      "a.example.com",
      "*.b.example.com",
      "c",
    ])
  })

  it.each([
    "a..b",
    "-a.example.com",
    "a-.example.com",
    "a b.example.com",
    "a.*.example.com",
    "a.example.com.",
    "https://a.example.com",
    `${"a".repeat(64)}.example.com`,
    `${"a.".repeat(127)}ab`,
  ])("dns-names refuses %j", (name) => {
    expect(problemsOf({ [`${P}dns-names`]: `ok.example.com,${name}` })).toStrictEqual([
      {
        attribute: `${P}dns-names`,
        message: `${quoted(name)} is not a DNS name; use dot-separated labels of letters, digits and hyphens (at most 63 characters each), optionally starting with "*."`,
      },
    ])
  })

  it("dns-names names the bad entries in one problem", () => {
    expect(problemsOf({ [`${P}dns-names`]: "a..b,ok,c d" }).map((p) => p.message)).toStrictEqual([
      '"a..b" and "c d" are not DNS names; use dot-separated labels of letters, digits and hyphens (at most 63 characters each), optionally starting with "*."',
    ])
  })

  it("dns-names with thousands of bad entries names the first three and counts the rest", () => {
    const names = Array.from({ length: 10_000 }, (_, i) => `bad_name!${i}`).join(",")
    const [problem, ...others] = problemsOf({ [`${P}dns-names`]: names })
    expect(others).toHaveLength(0)
    expect(problem?.message).toMatch(
      /^"bad_name!0", "bad_name!1", "bad_name!2" and 9,997 more are not DNS names; use /,
    )
  })

  it("dns-names checks the expanded value", () => {
    expect(problemsOf({ [`${P}dns-names`]: "${POD_NAME}..x" })[0]?.message).toMatch(
      /^"my-csi-app\.\.x" is not/,
    )
  })

  it("ip-sans: IPv4 and IPv6, trimmed", () => {
    expect(specOf({ [`${P}ip-sans`]: "192.0.0.1, ::1 ,fd00::10,,10.0.0.1" }).ipAddresses).toStrictEqual([
      "192.0.0.1",
      "::1",
      "fd00::10",
      "10.0.0.1",
    ])
  })

  it.each(["300.1.1.1", "1.2.3", "fe80::1%eth0", "example.com", "::g"])("ip-sans refuses %j", (ip) => {
    expect(problemsOf({ [`${P}ip-sans`]: ip })).toStrictEqual([
      {
        attribute: `${P}ip-sans`,
        message: `${JSON.stringify(ip)} is not an IP address; use IPv4 (10.0.0.1) or IPv6 (fd00::1) addresses`,
      },
    ])
  })

  it("uri-sans: absolute URIs, after expansion", () => {
    expect(
      specOf({ [`${P}uri-sans`]: "spiffe://cluster.local/ns/${POD_NAMESPACE}, urn:uuid:1" }).uris,
    ).toStrictEqual(["spiffe://cluster.local/ns/sandbox", "urn:uuid:1"])
  })

  it.each(["cluster.local/ns/x", "/a/b", "${POD_NAME}", "://x", "spiffe://a b"])(
    "uri-sans refuses %j",
    (uri) => {
      const shown = uri.replace("${POD_NAME}", "my-csi-app")
      expect(problemsOf({ [`${P}uri-sans`]: uri })).toStrictEqual([
        {
          attribute: `${P}uri-sans`,
          message: `${JSON.stringify(shown)} is not an absolute URI; give each URI a scheme, as in spiffe://cluster.local/ns/my-namespace/sa/my-account`,
        },
      ])
    },
  )

  it("at least one name is required, reported once", () => {
    const only = { [`${P}issuer-name`]: "ca-issuer" }
    const expected = [
      {
        attribute: "volumeAttributes",
        message:
          "the certificate would name nothing; set at least one of csi.cert-manager.io/common-name, csi.cert-manager.io/literal-subject, csi.cert-manager.io/dns-names, csi.cert-manager.io/ip-sans or csi.cert-manager.io/uri-sans",
      },
    ]
    expect(problemsOf({}, undefined, only)).toStrictEqual(expected)
    expect(problemsOf({ [`${P}dns-names`]: " , " }, undefined, only)).toStrictEqual(expected)
    expect(problemsOf({ [`${P}organizations`]: "Acme" }, undefined, only)).toStrictEqual(expected)
  })

  it.each(["common-name", "literal-subject", "dns-names", "ip-sans", "uri-sans"])(
    "%s alone is enough",
    (name) => {
      const value = {
        "common-name": "x",
        "literal-subject": "CN=x",
        "dns-names": "x",
        "ip-sans": "::1",
        "uri-sans": "a:b",
      }[name]!
      expect(() => specOf({}, undefined)).not.toThrow()
      const result = decodeAttributes({ [`${P}issuer-name`]: "i", [`${P}${name}`]: value }, pod)
      expect(Result.isSuccess(result)).toBe(true)
    },
  )

  it("an invalid name does not also claim the certificate names nothing", () => {
    expect(problemsOf({}, undefined, { [`${P}issuer-name`]: "i", [`${P}dns-names`]: "a..b" })).toHaveLength(1)
  })
})

describe("duration and renew-before", () => {
  it("duration defaults to 720h and takes Go syntax", () => {
    expect(nanos(specOf({}).duration)).toBe(hours(720))
    expect(nanos(specOf({ [`${P}duration`]: "1h30m" }).duration)).toBe(hours(1) + hours(1) / 2n)
    expect(nanos(specOf({ [`${P}duration`]: "1.5h" }).duration)).toBe(hours(1) + hours(1) / 2n)
    expect(nanos(specOf({ [`${P}duration`]: "2160h" }).duration)).toBe(hours(2160))
  })

  it.each([
    [
      "1 hour",
      '"1 hour" is not a duration; write numbers with units (h, m, s, ms, us, ns), such as 720h or 1h30m',
    ],
    ["30d", '"30d" is not a duration; write numbers with units (h, m, s, ms, us, ns), such as 720h or 1h30m'],
    ["0", '"0" is zero; use a positive duration such as 720h'],
    ["-720h", '"-720h" is negative; use a positive duration such as 720h'],
  ])("duration %j is refused", (value, message) => {
    expect(problemsOf({ [`${P}duration`]: value })).toStrictEqual([{ attribute: `${P}duration`, message }])
  })

  it("renew-before is optional and must be shorter than the duration", () => {
    expect(specOf({}).renewBefore).toBeUndefined()
    expect(nanos(specOf({ [`${P}renew-before`]: "72h" }).renewBefore)).toBe(hours(72))
    expect(problemsOf({ [`${P}renew-before`]: "720h" })).toStrictEqual([
      {
        attribute: `${P}renew-before`,
        message:
          '"720h" is not shorter than the certificate\'s duration (720h0m0s, the default); use a shorter margin, such as 240h0m0s (a third of it), or leave it out',
      },
    ])
    expect(problemsOf({ [`${P}renew-before`]: "2h", [`${P}duration`]: "90m" })).toStrictEqual([
      {
        attribute: `${P}renew-before`,
        message:
          '"2h" is not shorter than the certificate\'s duration (csi.cert-manager.io/duration "90m"); use a shorter margin, such as 30m0s (a third of it), or leave it out',
      },
    ])
  })

  it("renew-before takes Go syntax, positive", () => {
    expect(problemsOf({ [`${P}renew-before`]: "-1h" })).toStrictEqual([
      { attribute: `${P}renew-before`, message: '"-1h" is negative; use a positive duration such as 72h' },
    ])
  })

  it("a bad duration does not also fail renew-before", () => {
    expect(problemsOf({ [`${P}duration`]: "x", [`${P}renew-before`]: "9999h" })).toHaveLength(1)
  })
})

describe("booleans", () => {
  it.each(["is-ca", "reuse-private-key"])("%s defaults to false and takes true/false", (name) => {
    const field = name === "is-ca" ? "isCA" : "reusePrivateKey"
    expect(specOf({})[field]).toBe(false)
    expect(specOf({ [`${P}${name}`]: "true" })[field]).toBe(true)
    expect(specOf({ [`${P}${name}`]: "false" })[field]).toBe(false)
  })

  it.each(["is-ca", "reuse-private-key", "pkcs12-enable"])("%s refuses anything but true/false", (name) => {
    for (const value of ["True", "yes", "1", " true"]) {
      expect(problemsOf({ [`${P}${name}`]: value })).toStrictEqual([
        {
          attribute: `${P}${name}`,
          message: `${JSON.stringify(value)} is not a boolean; use "true" or "false"`,
        },
      ])
    }
  })
})

describe("key usages", () => {
  it("default to digital signature and key encipherment", () => {
    expect(specOf({}).usages).toStrictEqual(["digital signature", "key encipherment"])
  })
  it("take a comma list of cert-manager's names, trimmed", () => {
    expect(specOf({ [`${P}key-usages`]: "server auth, client auth ,s/mime" }).usages).toStrictEqual([
      "server auth",
      "client auth",
      "s/mime",
    ])
  })
  it("refuse unknown ones, suggesting the nearest and listing the valid names", () => {
    expect(problemsOf({ [`${P}key-usages`]: "Server Auth,client auth" })).toStrictEqual([
      {
        attribute: `${P}key-usages`,
        message:
          '"Server Auth" (did you mean "server auth"?) is not a key usage; the valid usages are signing, digital signature, content commitment, key encipherment, key agreement, data encipherment, cert sign, crl sign, encipher only, decipher only, any, server auth, client auth, code signing, email protection, s/mime, ipsec end system, ipsec tunnel, ipsec user, timestamping, ocsp signing, microsoft sgc or netscape sgc',
      },
    ])
    expect(problemsOf({ [`${P}key-usages`]: "foo,serverauth" })[0]?.message).toMatch(
      /^"foo" and "serverauth" \(did you mean "server auth"\?\) are not key usages; the valid usages are signing, /,
    )
  })
  it("refuse an empty list", () => {
    expect(problemsOf({ [`${P}key-usages`]: " , " })[0]?.message).toBe(
      '" , " lists no key usages; leave the attribute out for the default (digital signature,key encipherment) or list usages such as server auth,client auth',
    )
  })
})

describe("key", () => {
  it.each([
    [{}, { algorithm: "RSA", size: 2048, encoding: "PKCS1" }],
    [{ "key-size": "4096" }, { algorithm: "RSA", size: 4096, encoding: "PKCS1" }],
    [
      { "key-size": "8192", "key-encoding": "PKCS8" },
      { algorithm: "RSA", size: 8192, encoding: "PKCS8" },
    ],
    [{ "key-algorithm": "rsa" }, { algorithm: "RSA", size: 2048, encoding: "PKCS1" }],
    [{ "key-algorithm": "ECDSA" }, { algorithm: "ECDSA", size: 256, encoding: "PKCS8" }],
    [
      { "key-algorithm": "ecdsa", "key-size": "384" },
      { algorithm: "ECDSA", size: 384, encoding: "PKCS8" },
    ],
    [
      { "key-algorithm": "EcDsA", "key-size": "521" },
      { algorithm: "ECDSA", size: 521, encoding: "PKCS8" },
    ],
    [{ "key-algorithm": "ed25519" }, { algorithm: "Ed25519", size: 0, encoding: "PKCS8" }],
    [
      { "key-algorithm": "Ed25519", "key-encoding": "PKCS8" },
      { algorithm: "Ed25519", size: 0, encoding: "PKCS8" },
    ],
  ])("%o → %o", (attributes, key) => {
    const prefixed = Object.fromEntries(Object.entries(attributes).map(([k, v]) => [`${P}${k}`, v]))
    expect(specOf(prefixed).key).toStrictEqual(key)
  })

  it.each([
    [{ "key-size": "1024" }, "key-size", '"1024" is not valid for RSA; use an integer from 2048 to 8192'],
    [{ "key-size": "8193" }, "key-size", '"8193" is not valid for RSA; use an integer from 2048 to 8192'],
    [
      { "key-algorithm": "ECDSA", "key-size": "2048" },
      "key-size",
      '"2048" is not valid for ECDSA; use 256, 384 or 521',
    ],
    [
      { "key-algorithm": "Ed25519", "key-size": "256" },
      "key-size",
      '"256" cannot be used with Ed25519, whose keys have a fixed size; remove csi.cert-manager.io/key-size',
    ],
    [
      { "key-size": "big" },
      "key-size",
      '"big" is not a key size; use a whole number of bits, such as 2048 for RSA or 256 for ECDSA',
    ],
    [
      { "key-size": "-2048" },
      "key-size",
      '"-2048" is not a key size; use a whole number of bits, such as 2048 for RSA or 256 for ECDSA',
    ],
    [{ "key-algorithm": "DSA" }, "key-algorithm", '"DSA" is not a key algorithm; use RSA, ECDSA or Ed25519'],
    [{ "key-encoding": "DER" }, "key-encoding", '"DER" is not a key encoding; use PKCS1 or PKCS8'],
    [{ "key-encoding": "pkcs8" }, "key-encoding", '"pkcs8" is not a key encoding; use PKCS1 or PKCS8'],
    [
      { "key-algorithm": "ECDSA", "key-encoding": "PKCS1" },
      "key-encoding",
      '"PKCS1" is only for RSA keys; use PKCS8 with ECDSA keys (or leave it out)',
    ],
    [
      { "key-algorithm": "Ed25519", "key-encoding": "PKCS1" },
      "key-encoding",
      '"PKCS1" is only for RSA keys; use PKCS8 with Ed25519 keys (or leave it out)',
    ],
  ])("%o is refused", (attributes, name, message) => {
    const prefixed = Object.fromEntries(Object.entries(attributes).map(([k, v]) => [`${P}${k}`, v]))
    expect(problemsOf(prefixed)).toStrictEqual([{ attribute: `${P}${name}`, message }])
  })

  it("a bad algorithm does not also fail the size", () => {
    expect(problemsOf({ [`${P}key-algorithm`]: "DSA", [`${P}key-size`]: "1" })).toHaveLength(1)
  })
})

describe("output files", () => {
  it("default to tls.crt, tls.key and ca.crt and can be renamed", () => {
    expect(specOf({}).files).toStrictEqual({ certificate: "tls.crt", privateKey: "tls.key", ca: "ca.crt" })
    expect(
      specOf({
        [`${P}certificate-file`]: "foo.crt",
        [`${P}privatekey-file`]: "foo.key",
        [`${P}ca-file`]: "foo.ca",
      }).files,
    ).toStrictEqual({ certificate: "foo.crt", privateKey: "foo.key", ca: "foo.ca" })
  })

  it("allow 255 bytes, dots inside and a leading dot", () => {
    expect(specOf({ [`${P}certificate-file`]: "a".repeat(255) }).files.certificate).toHaveLength(255)
    expect(specOf({ [`${P}ca-file`]: ".ca..pem" }).files.ca).toBe(".ca..pem")
  })

  it.each([
    ["/etc/tls.crt", 'is an absolute path and contains "/"'],
    ["certs/tls.crt", 'contains "/"'],
    ["..tls.crt", 'starts with ".."'],
    ["../tls.crt", 'contains "/" and starts with ".."'],
    [".", 'is "."'],
    ["a".repeat(256), "is longer than 255 bytes"],
    ["\u00e9".repeat(128), "is longer than 255 bytes"],
    [" tls.crt", "has leading or trailing spaces"],
    ["tls.crt ", "has leading or trailing spaces"],
    ["tls\n.crt", "contains a control character"],
  ])("refuse %j: it %s", (name, reasons) => {
    for (const [key, example] of [
      ["certificate-file", "tls.crt"],
      ["privatekey-file", "tls.key"],
      ["ca-file", "ca.crt"],
    ]) {
      expect(problemsOf({ [`${P}${key}`]: name })).toStrictEqual([
        {
          attribute: `${P}${key}`,
          message: `${quoted(name)} is not a plain file name: it ${reasons}; use a name such as ${example}`,
        },
      ])
    }
  })

  it("must all differ, blaming the attribute that was set", () => {
    expect(problemsOf({ [`${P}ca-file`]: "tls.crt" })).toStrictEqual([
      {
        attribute: `${P}ca-file`,
        message:
          '"tls.crt" is also the name of csi.cert-manager.io/certificate-file (its default); give every file its own name',
      },
    ])
    expect(problemsOf({ [`${P}certificate-file`]: "ca.crt" })).toStrictEqual([
      {
        attribute: `${P}certificate-file`,
        message:
          '"ca.crt" is also the name of csi.cert-manager.io/ca-file (its default); give every file its own name',
      },
    ])
    expect(problemsOf({ [`${P}certificate-file`]: "x", [`${P}privatekey-file`]: "x" })).toStrictEqual([
      {
        attribute: `${P}privatekey-file`,
        message: '"x" is also the name of csi.cert-manager.io/certificate-file; give every file its own name',
      },
    ])
  })

  it("the keystore's name must differ too, when enabled", () => {
    const enabled = { [`${P}pkcs12-enable`]: "true", [`${P}pkcs12-password`]: "pw" }
    expect(problemsOf({ ...enabled, [`${P}pkcs12-filename`]: "tls.key" })).toStrictEqual([
      {
        attribute: `${P}pkcs12-filename`,
        message:
          '"tls.key" is also the name of csi.cert-manager.io/privatekey-file (its default); give every file its own name',
      },
    ])
    expect(problemsOf({ ...enabled, [`${P}certificate-file`]: "keystore.p12" })[0]?.attribute).toBe(
      `${P}certificate-file`,
    )
  })
})

describe("fs-group", () => {
  it("is optional and takes 1..4294967294", () => {
    expect(specOf({}).fsGroup).toBeUndefined()
    expect(specOf({ [`${P}fs-group`]: "2000" }).fsGroup).toBe(2000)
    expect(specOf({ [`${P}fs-group`]: "1" }).fsGroup).toBe(1)
    expect(specOf({ [`${P}fs-group`]: "4294967294" }).fsGroup).toBe(4294967294)
  })

  it.each(["0", "4294967295", "-1", "abc", "2000.5", "1e3", " 2000"])("refuses %j", (value) => {
    expect(problemsOf({ [`${P}fs-group`]: value })).toStrictEqual([
      {
        attribute: `${P}fs-group`,
        message: `${JSON.stringify(value)} is not a group ID; use an integer from 1 to 4294967294`,
      },
    ])
  })

  it("falls back to the pod's fsGroup from volume_mount_group", () => {
    expect(specOf({}, "3000").fsGroup).toBe(3000)
    expect(specOf({}, "").fsGroup).toBeUndefined()
    expect(specOf({ [`${P}fs-group`]: "2000" }, "3000").fsGroup).toBe(2000)
    // fs-group wins, so a volume_mount_group it overrides is never looked at
    expect(specOf({ [`${P}fs-group`]: "2000" }, "junk").fsGroup).toBe(2000)
  })

  it("a pod fsGroup of 0 (root) leaves the files as they are", () => {
    expect(specOf({}, "0").fsGroup).toBeUndefined()
  })

  it("an unusable volume_mount_group is a problem of its own", () => {
    expect(problemsOf({}, "abc")).toStrictEqual([
      {
        attribute: "volume_mount_group",
        message:
          'the pod\'s fsGroup "abc" is not a group ID the driver can use; set securityContext.fsGroup to an integer from 1 to 4294967294, or set csi.cert-manager.io/fs-group',
      },
    ])
    expect(problemsOf({}, "4294967295")[0]?.attribute).toBe("volume_mount_group")
  })
})

describe("PKCS#12", () => {
  const enabled = { [`${P}pkcs12-enable`]: "true", [`${P}pkcs12-password`]: "s3cret-pass" }

  it("is off by default", () => {
    expect(specOf({}).pkcs12).toBeUndefined()
    expect(specOf({ [`${P}pkcs12-enable`]: "false" }).pkcs12).toBeUndefined()
  })

  it("when enabled, defaults to keystore.p12 and LegacyRC2 and carries the password redacted", () => {
    const pkcs12 = specOf(enabled).pkcs12!
    expect(pkcs12.filename).toBe("keystore.p12")
    expect(pkcs12.profile).toBe("LegacyRC2")
    expect(Redacted.isRedacted(pkcs12.password)).toBe(true)
    expect(Redacted.value(pkcs12.password)).toBe("s3cret-pass")
    expect(String(pkcs12.password)).not.toContain("s3cret-pass")
    expect(JSON.stringify(specOf(enabled))).not.toContain("s3cret-pass")
  })

  it("takes a file name and a profile", () => {
    for (const profile of ["LegacyRC2", "LegacyDES", "Modern2023"]) {
      const pkcs12 = specOf({
        ...enabled,
        [`${P}pkcs12-filename`]: "tls.p12",
        [`${P}pkcs12-profile`]: profile,
      }).pkcs12!
      expect([pkcs12.filename, pkcs12.profile]).toStrictEqual(["tls.p12", profile])
    }
  })

  it("requires the password when enabled", () => {
    expect(problemsOf({ [`${P}pkcs12-enable`]: "true" })).toStrictEqual([
      {
        attribute: `${P}pkcs12-password`,
        message:
          'is required when csi.cert-manager.io/pkcs12-enable is "true"; set the password that protects the keystore',
      },
    ])
  })

  it("refuses an unknown profile and a bad file name", () => {
    expect(
      problemsOf({ ...enabled, [`${P}pkcs12-profile`]: "modern2023", [`${P}pkcs12-filename`]: "a/b" }),
    ).toStrictEqual([
      {
        attribute: `${P}pkcs12-filename`,
        message: '"a/b" is not a plain file name: it contains "/"; use a name such as keystore.p12',
      },
      {
        attribute: `${P}pkcs12-profile`,
        message: '"modern2023" is not a PKCS#12 profile; use LegacyRC2, LegacyDES or Modern2023',
      },
    ])
  })

  it('ignores the other pkcs12 attributes when pkcs12-enable is "false", as upstream does', () => {
    const spec = specOf({
      [`${P}pkcs12-enable`]: "false",
      [`${P}pkcs12-filename`]: "tls.p12",
      [`${P}pkcs12-password`]: "s3cret-pass",
      [`${P}pkcs12-profile`]: "Modern2023",
    })
    expect(spec.pkcs12).toBeUndefined()
  })

  it("refuses the other pkcs12 attributes when pkcs12-enable is missing", () => {
    const attributes = {
      [`${P}pkcs12-filename`]: "tls.p12",
      [`${P}pkcs12-password`]: "s3cret-pass",
      [`${P}pkcs12-profile`]: "Modern2023",
    }
    expect(problemsOf(attributes)).toStrictEqual(
      ["pkcs12-filename", "pkcs12-password", "pkcs12-profile"].map((name) => ({
        attribute: `${P}${name}`,
        message: `is only used when csi.cert-manager.io/pkcs12-enable is "true"; set that too, or remove csi.cert-manager.io/${name}`,
      })),
    )
  })
})

describe("keys", () => {
  it("copies keys of other groups as annotations and ignores kubelet's", () => {
    const spec = specOf({
      "example.com/team": "payments",
      "approver-policy.cert-manager.io/profile": "strict",
      "csi.storage.k8s.io/pod.name": "ignored",
      "csi.storage.k8s.io/serviceAccount.tokens": "{}",
    })
    expect(spec.annotations).toStrictEqual({
      "example.com/team": "payments",
      "approver-policy.cert-manager.io/profile": "strict",
    })
  })

  it("refuses keys of other groups the API server would refuse as annotation keys, before anything is made", () => {
    const bad = [
      "example.com/",
      "Bad Prefix/x",
      "example.com/-lead",
      "example.com/a b",
      `example.com/${"n".repeat(64)}`,
    ]
    for (const key of bad) {
      const problems = problemsOf({ [key]: "v" })
      expect(problems.map((p) => p.attribute)).toStrictEqual([key])
      expect(problems[0]?.message).toContain("not a valid annotation key")
    }
    // the prefix is compared in lower case, as the API server does; the name keeps its case
    expect(specOf({ "Example.COM/Team_Name.v1": "x" }).annotations).toStrictEqual({
      "Example.COM/Team_Name.v1": "x",
    })
  })

  it("refuses annotations larger than the API server takes (256 KiB, keys and values)", () => {
    const problems = problemsOf({ "example.com/a": "x".repeat(200_000), "example.com/b": "y".repeat(70_000) })
    expect(problems).toHaveLength(1)
    expect(problems[0]?.attribute).toBe("volumeAttributes")
    expect(problems[0]?.message).toContain("at most 262,144")
    expect(specOf({ "example.com/a": "x".repeat(200_000) }).annotations["example.com/a"]).toHaveLength(
      200_000,
    )
  })

  it("reports unknown csi.cert-manager.io keys and keys without a group, first", () => {
    expect(
      problemsOf({
        [`${P}key-size`]: "1",
        "csi.cert-manager.io/dns-name": "x",
        "common-name": "x",
      }),
    ).toStrictEqual([
      {
        attribute: "csi.cert-manager.io/dns-name",
        message: "unknown attribute; did you mean csi.cert-manager.io/dns-names?",
      },
      {
        attribute: "common-name",
        message: "attribute has no group prefix; did you mean csi.cert-manager.io/common-name?",
      },
      { attribute: `${P}key-size`, message: '"1" is not valid for RSA; use an integer from 2048 to 8192' },
    ])
  })
})

describe("a request with several problems", () => {
  it("reports all of them, one line each, in attribute order", () => {
    const result = decodeAttributes(
      {
        [`${P}dns-names`]: "ok.example.com,bad..name",
        [`${P}key-size`]: "1024",
        [`${P}duration`]: "forever",
        [`${P}is-ca`]: "yes",
        [`${P}ip-sans`]: "1.2.3.4.5",
        [`${P}ca-file`]: "tls.key",
        [`${P}pkcs12-password`]: "pw",
        "csi.cert-manager.io/isca": "true",
      },
      pod,
      "x",
    )
    assert(Result.isFailure(result))
    const error = result.failure
    expect(error.problems.map((p) => p.attribute)).toStrictEqual([
      "csi.cert-manager.io/isca",
      `${P}issuer-name`,
      `${P}dns-names`,
      `${P}ip-sans`,
      `${P}duration`,
      `${P}is-ca`,
      `${P}key-size`,
      `${P}ca-file`,
      `${P}pkcs12-password`,
      "volume_mount_group",
    ])
    expect(error.message.split("\n")).toStrictEqual(error.problems.map((p) => `${p.attribute}: ${p.message}`))
    expect(error.message).toContain(
      'csi.cert-manager.io/key-size: "1024" is not valid for RSA; use an integer from 2048 to 8192',
    )
  })
})

describe("the pkcs12-password", () => {
  const secret = "Tr0ub4dor&3"
  const withSecret = { [`${P}pkcs12-enable`]: "true", [`${P}pkcs12-password`]: secret }

  it.each([
    ["key-size", secret],
    ["duration", secret],
    ["is-ca", secret],
    ["dns-names", `a.${secret}.com`],
    ["ip-sans", secret],
    ["uri-sans", secret],
    ["key-usages", secret],
    ["key-algorithm", secret],
    ["key-encoding", secret],
    ["pkcs12-profile", secret],
    ["fs-group", secret],
    ["certificate-file", `/${secret}`],
    ["pkcs12-filename", `/${secret}`],
    ["literal-subject", `${secret}`],
    ["common-name", `\${${secret}}`],
    ["dns-names", `\${X${secret}}`],
  ])("never appears in a message, even as the bad value of %s", (name, value) => {
    const result = decodeAttributes({ ...base, ...withSecret, [`${P}${name}`]: value }, pod, secret)
    assert(Result.isFailure(result))
    expect(result.failure.problems.some((p) => p.attribute === `${P}${name}`)).toBe(true)
    expect(result.failure.message).not.toContain(secret)
    expect(JSON.stringify(result.failure.problems)).not.toContain(secret)
    expect(result.failure.message).toContain("(a value that contains the pkcs12-password, not shown)")
  })

  it("never appears when it is given without pkcs12-enable", () => {
    const result = decodeAttributes(
      { ...base, [`${P}pkcs12-password`]: secret, [`${P}key-size`]: secret },
      pod,
    )
    assert(Result.isFailure(result))
    expect(result.failure.message).not.toContain(secret)
    expect(String(result.failure)).not.toContain(secret)
  })
})

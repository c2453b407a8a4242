import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node"
import { Agent } from "undici"
import { afterEach, assert, describe, it, vi } from "vitest"
import { PooledKubeConfig } from "../../src/kube/client.js"

// Never dialled: the Agents made here open no connection.
const caData = Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").toString(
  "base64",
)

const kubeconfig = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "c",
        cluster: { server: "https://api.example:6443", "certificate-authority-data": caData, ...cluster },
      },
    ],
    users: [{ name: "u", user }],
    contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
    "current-context": "x",
  })

const headersOf = async (kc: KubeConfig, url = "https://api.example:6443/api/v1/pods") => {
  const context = new RequestContext(url, HttpMethod.GET)
  await kc.applySecurityAuthentication(context)
  return { headers: context.getHeaders(), dispatcher: context.getDispatcher() }
}

const both = (config: string) => {
  const plain = new KubeConfig()
  plain.loadFromString(config)
  const pooled = new PooledKubeConfig()
  pooled.loadFromString(config)
  return { plain, pooled }
}

describe("PooledKubeConfig", () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it("sends the headers client-node sends, for a token, basic auth and impersonation", async () => {
    for (const user of [
      { token: "t0k3n" },
      { username: "alice", password: "secret" },
      { token: "t0k3n", as: "bob" },
      { username: "alice", password: "secret", token: "t0k3n" },
    ]) {
      const { plain, pooled } = both(kubeconfig(user))
      assert.deepStrictEqual((await headersOf(pooled)).headers, (await headersOf(plain)).headers)
    }
    const { pooled } = both(kubeconfig({ token: "t0k3n", as: "bob" }))
    assert.deepStrictEqual((await headersOf(pooled)).headers, {
      "Impersonate-User": "bob",
      Authorization: "Bearer t0k3n",
    })
  })

  it("builds one pool per identity and gives it to every request, watches without the body timeout", async () => {
    const { pooled } = both(kubeconfig({ token: "t0k3n" }))
    const first = await headersOf(pooled)
    const second = await headersOf(pooled)
    assert.instanceOf(first.dispatcher, Agent)
    assert.strictEqual(second.dispatcher, first.dispatcher)
    const watch = await headersOf(pooled, "https://api.example:6443/api/v1/pods?watch=true")
    assert.isDefined(watch.dispatcher)
    assert.notStrictEqual(watch.dispatcher, first.dispatcher)
    await (first.dispatcher as Agent).close()
  })

  it("leaves the global dispatcher where client-node makes none", async () => {
    const config = kubeconfig({ token: "t0k3n" }, { "certificate-authority-data": undefined })
    const { plain, pooled } = both(config)
    assert.isUndefined((await headersOf(plain)).dispatcher)
    const { headers, dispatcher } = await headersOf(pooled)
    assert.isUndefined(dispatcher)
    assert.deepStrictEqual(headers, { Authorization: "Bearer t0k3n" })
  })

  it("reads an in-cluster token file again as it rotates, as client-node does", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "kube-config-"))
    const dir = path.join(root, "var/run/secrets/kubernetes.io/serviceaccount")
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, "ca.crt"), Buffer.from(caData, "base64"))
    fs.writeFileSync(path.join(dir, "token"), "first")
    vi.stubEnv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    vi.stubEnv("KUBERNETES_SERVICE_PORT", "443")
    try {
      vi.useFakeTimers({ toFake: ["Date"] })
      const kc = new PooledKubeConfig()
      kc.loadFromCluster(root)
      const before = await headersOf(kc, "https://10.0.0.1:443/api")
      assert.strictEqual(before.headers.Authorization, "Bearer first")
      fs.writeFileSync(path.join(dir, "token"), "second")
      // client-node's FileAuth keeps a token a minute.
      assert.strictEqual(
        (await headersOf(kc, "https://10.0.0.1:443/api")).headers.Authorization,
        "Bearer first",
      )
      vi.setSystemTime(Date.now() + 61_000)
      const after = await headersOf(kc, "https://10.0.0.1:443/api")
      assert.strictEqual(after.headers.Authorization, "Bearer second")
      assert.strictEqual(after.dispatcher, before.dispatcher)
      await (after.dispatcher as Agent).close()
    } finally {
      vi.unstubAllEnvs()
      fs.rmSync(root, { recursive: true, force: true })
    }
  })

  it("tries again to make the pool when the first try failed", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "kube-config-"))
    const caFile = path.join(root, "ca.crt")
    const { pooled } = both(
      kubeconfig(
        { token: "t0k3n" },
        { "certificate-authority-data": undefined, "certificate-authority": caFile },
      ),
    )
    try {
      const failed = await headersOf(pooled).then(
        () => undefined,
        (error: unknown) => error,
      )
      assert.match(String(failed), /ENOENT/)
      fs.writeFileSync(caFile, Buffer.from(caData, "base64"))
      const { dispatcher } = await headersOf(pooled)
      assert.instanceOf(dispatcher, Agent)
      await (dispatcher as Agent).close()
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  })
})

/**
 * The sandbox API server driven by real clients: @kubernetes/client-node (CustomObjectsApi,
 * CoreV1Api, Watch) and raw HTTPS for exact status codes and Status bodies.
 */
import { ApiException, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningSandbox, startSandbox } from "../../src/testing/sandbox.js"
import {
  type Clients,
  CR,
  clientsFor,
  condition,
  crBody,
  eventually,
  makeCsr,
  raw,
  record,
  sleep,
  verifyWithOpenssl,
} from "./support.js"

let sb: RunningSandbox
let admin: Clients
let driver: Clients
let request: string

beforeAll(async () => {
  sb = await startSandbox({ bookmarkInterval: "200 millis" })
  admin = clientsFor(sb)
  driver = clientsFor(sb, sb.driverToken)
  request = (await makeCsr({ commonName: "app", dnsNames: ["app.example.com"] })).request
})

afterAll(async () => {
  await sb?.close()
})

const apiError = async (p: Promise<unknown>): Promise<ApiException<string>> => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(ApiException)
  return e as ApiException<string>
}

const create = (clients: Clients, namespace: string, body: object) =>
  clients.custom.createNamespacedCustomObject({ ...CR, namespace, body })

describe("CertificateRequests with client-node", () => {
  it("creates, watches to Ready, and the certificate chains to the CA (openssl verify)", async () => {
    const rec = await record(driver, "/apis/cert-manager.io/v1/namespaces/issue/certificaterequests", {
      allowWatchBookmarks: true,
    })
    const created = await create(driver, "issue", crBody("first", { request }))
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/)
    expect(created.metadata.generation).toBe(1)
    expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    expect(created.status).toBeUndefined()
    const ready = await eventually(() =>
      rec.events.find((e) => e.type === "MODIFIED" && condition(e.object, "Ready")?.status === "True"),
    )
    rec.stop()
    expect(rec.events[0]?.type).toBe("ADDED")
    expect(condition(ready.object, "Approved")).toMatchObject({ status: "True", reason: "cert-manager.io" })
    expect(condition(ready.object, "Ready")).toMatchObject({ reason: "Issued" })
    expect(await verifyWithOpenssl(sb.caPem, ready.object.status.certificate)).toContain("OK")
    expect(Buffer.from(ready.object.status.ca, "base64").toString()).toBe(`${sb.caPem.trimEnd()}\n`)
  })

  it("records the requester like cert-manager's webhook, and who created it", async () => {
    const body = crBody("identity", { request })
    const forged = { ...body, spec: { ...body.spec, username: "someone-else", groups: ["system:masters"] } }
    const created = await create(driver, "identity", forged)
    expect(created.spec.username).toBe("system:serviceaccount:cert-manager:cert-manager-csi-driver")
    expect(created.spec.groups).toContain("system:serviceaccounts:cert-manager")
    expect(created.spec.uid).toMatch(/^[0-9a-f-]{36}$/)
    const asAdmin = await create(admin, "identity", crBody("by-admin", { request }))
    expect(asAdmin.spec.username).toBe("kubernetes-admin")
    expect((await sb.createdBy("certificaterequests", "identity", "identity"))?.username).toBe(
      "system:serviceaccount:cert-manager:cert-manager-csi-driver",
    )
    const podToken = sb.serviceAccountToken("apps", "web")
    const asPod = await create(clientsFor(sb, podToken), "apps", crBody("by-pod", { request }))
    expect(asPod.spec.username).toBe("system:serviceaccount:apps:web")
  })

  it("generateName, 409 AlreadyExists and 404 NotFound as Status objects", async () => {
    const generated = await create(admin, "names", crBody(undefined, { request, generateName: "gen-" }))
    expect(generated.metadata.name).toMatch(/^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/)
    await create(admin, "names", crBody("taken", { request }))
    const dup = await apiError(create(admin, "names", crBody("taken", { request })))
    expect(dup.code).toBe(409)
    expect(JSON.parse(dup.body)).toMatchObject({
      kind: "Status",
      status: "Failure",
      reason: "AlreadyExists",
      code: 409,
      message: 'certificaterequests.cert-manager.io "taken" already exists',
      details: { name: "taken", group: "cert-manager.io", kind: "certificaterequests" },
    })
    const missing = await apiError(
      admin.custom.getNamespacedCustomObject({ ...CR, namespace: "names", name: "nope" }),
    )
    expect(missing.code).toBe(404)
    expect(JSON.parse(missing.body)).toMatchObject({
      kind: "Status",
      apiVersion: "v1",
      reason: "NotFound",
      code: 404,
      message: 'certificaterequests.cert-manager.io "nope" not found',
    })
    const noName = await raw(sb, "POST", "/apis/cert-manager.io/v1/namespaces/names/certificaterequests", {
      body: crBody(undefined, { request }),
    })
    expect(noName.status).toBe(422)
    expect(noName.json()).toMatchObject({ reason: "Invalid" })
    const noRequest = await raw(sb, "POST", "/apis/cert-manager.io/v1/namespaces/names/certificaterequests", {
      body: crBody("empty", { request: "" }),
    })
    expect(noRequest.status).toBe(406)
    expect(noRequest.json().message).toContain("spec.request: Required value")
    const annotated = (annotations: Record<string, string>) =>
      raw(sb, "POST", "/apis/cert-manager.io/v1/namespaces/names/certificaterequests", {
        body: (() => {
          const body = crBody("annotated", { request })
          return { ...body, metadata: { ...body.metadata, annotations } }
        })(),
      })
    for (const key of ["example.com/-x", "a b/c", `example.com/${"n".repeat(64)}`]) {
      const refused = await annotated({ [key]: "v" })
      expect(refused.status, key).toBe(422)
      expect(refused.json()).toMatchObject({ details: { causes: [{ field: "metadata.annotations" }] } })
    }
    expect((await annotated({ "example.com/a": "x".repeat(262_200) })).status).toBe(422)
    expect((await annotated({ "Example.COM/Team_Name.v1": "x" })).status).toBe(201)
  })

  it("lists with label and field selectors, namespaced and cluster-wide", async () => {
    const mk = (ns: string, name: string, labels: Record<string, string>) =>
      create(admin, ns, crBody(name, { request, issuer: "unknown-issuer", labels }))
    await mk("sel-a", "a1", { app: "web", tier: "front" })
    await mk("sel-a", "a2", { app: "db" })
    await mk("sel-b", "b1", { app: "web", tier: "back" })
    await mk("sel-b", "b2", {})
    const names = async (labelSelector?: string, fieldSelector?: string, namespace?: string) => {
      const selectors = {
        ...(labelSelector === undefined ? {} : { labelSelector }),
        ...(fieldSelector === undefined ? {} : { fieldSelector }),
      }
      const list =
        namespace === undefined
          ? await admin.custom.listClusterCustomObject({ ...CR, ...selectors })
          : await admin.custom.listNamespacedCustomObject({ ...CR, namespace, ...selectors })
      expect(list.kind).toBe("CertificateRequestList")
      expect(list.metadata.resourceVersion).toMatch(/^\d+$/)
      return (list.items as Array<{ metadata: { name: string } }>)
        .map((i) => i.metadata.name)
        .filter((n) => /^[ab]\d$/.test(n))
    }
    expect(await names("app=web")).toEqual(["a1", "b1"])
    expect(await names("app==web")).toEqual(["a1", "b1"])
    expect(await names("app!=web")).toEqual(["a2", "b2"])
    expect(await names("app in (db, web),tier")).toEqual(["a1", "b1"])
    expect(await names("tier notin (front)")).toEqual(["a2", "b1", "b2"])
    expect(await names("tier")).toEqual(["a1", "b1"])
    expect(await names("!tier")).toEqual(["a2", "b2"])
    expect(await names("app=web", undefined, "sel-b")).toEqual(["b1"])
    expect(await names(undefined, "metadata.name=a2")).toEqual(["a2"])
    expect(await names(undefined, "metadata.namespace=sel-b,metadata.name!=b1")).toEqual(["b2"])
    const bad = await apiError(admin.custom.listClusterCustomObject({ ...CR, fieldSelector: "spec.foo=bar" }))
    expect(bad.code).toBe(400)
    expect(JSON.parse(bad.body).message).toBe("field label not supported: spec.foo")
    const badLabel = await raw(
      sb,
      "GET",
      "/apis/cert-manager.io/v1/certificaterequests?labelSelector=a%20in%20()",
    )
    expect(badLabel.status).toBe(400)
  })

  it("pages with limit and continue", async () => {
    for (const n of ["p1", "p2", "p3"])
      await create(admin, "paging", crBody(n, { request, issuer: "unknown-issuer" }))
    const first = await admin.custom.listNamespacedCustomObject({ ...CR, namespace: "paging", limit: 2 })
    expect(first.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(["p1", "p2"])
    expect(first.metadata.remainingItemCount).toBe(1)
    const second = await admin.custom.listNamespacedCustomObject({
      ...CR,
      namespace: "paging",
      limit: 2,
      _continue: first.metadata.continue,
    })
    expect(second.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(["p3"])
    expect(second.metadata.continue).toBeUndefined()
  })

  it("patches: JSON patch (client-node's default), merge patch; the main resource ignores status", async () => {
    const created = await create(admin, "patching", crBody("p", { request, issuer: "unknown-issuer" }))
    const jsonPatched = await admin.custom.patchNamespacedCustomObject({
      ...CR,
      namespace: "patching",
      name: "p",
      body: [{ op: "add", path: "/metadata/labels", value: { step: "one" } }],
    })
    expect(jsonPatched.metadata.labels).toEqual({ step: "one" })
    expect(Number(jsonPatched.metadata.resourceVersion)).toBeGreaterThan(
      Number(created.metadata.resourceVersion),
    )
    const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch)
    const merged = await admin.custom.patchNamespacedCustomObject(
      {
        ...CR,
        namespace: "patching",
        name: "p",
        body: {
          metadata: { labels: { step: null, other: "x" } },
          status: { conditions: [{ type: "Ready", status: "True" }] },
        },
      },
      merge,
    )
    expect(merged.metadata.labels).toEqual({ other: "x" })
    expect(condition(merged, "Ready")?.status).not.toBe("True")
    expect(merged.metadata.generation).toBe(1)
    const specChange = await apiError(
      admin.custom.patchNamespacedCustomObject(
        { ...CR, namespace: "patching", name: "p", body: { spec: { duration: "5h" } } },
        merge,
      ),
    )
    expect(specChange.code).toBe(406)
    const stale = await apiError(
      admin.custom.patchNamespacedCustomObject(
        {
          ...CR,
          namespace: "patching",
          name: "p",
          body: { metadata: { resourceVersion: "1", labels: { a: "b" } } },
        },
        merge,
      ),
    )
    expect(stale.code).toBe(409)
    expect(JSON.parse(stale.body).reason).toBe("Conflict")
    const smp = await raw(sb, "PATCH", "/apis/cert-manager.io/v1/namespaces/patching/certificaterequests/p", {
      body: { metadata: { annotations: { via: "smp" } } },
      contentType: "application/strategic-merge-patch+json",
    })
    expect(smp.status).toBe(200)
    const apply = await raw(
      sb,
      "PATCH",
      "/apis/cert-manager.io/v1/namespaces/patching/certificaterequests/p",
      {
        body: "{}",
        contentType: "application/apply-patch+yaml",
      },
    )
    expect(apply.status).toBe(415)
  })

  it("/status takes status only; spec changes there are ignored; approvals cannot be undone", async () => {
    const created = await create(admin, "status", crBody("s", { request, issuer: "unknown-issuer" }))
    const approved = await eventually(async () => {
      const cr = await admin.custom.getNamespacedCustomObject({ ...CR, namespace: "status", name: "s" })
      return condition(cr, "Ready") === undefined ? undefined : cr
    })
    const updated = await admin.custom.replaceNamespacedCustomObjectStatus({
      ...CR,
      namespace: "status",
      name: "s",
      body: {
        ...approved,
        spec: { ...approved.spec, duration: "1h" },
        status: { ...approved.status, failureTime: "2020-01-01T00:00:00Z" },
      },
    })
    expect(updated.status.failureTime).toBe("2020-01-01T00:00:00Z")
    expect(updated.spec.duration).toBeUndefined()
    expect(updated.metadata.generation).toBe(created.metadata.generation)
    const unapprove = await apiError(
      admin.custom.patchNamespacedCustomObjectStatus(
        { ...CR, namespace: "status", name: "s", body: { status: { conditions: [] } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      ),
    )
    expect(unapprove.code).toBe(406)
    const noRv = await raw(sb, "PUT", "/apis/cert-manager.io/v1/namespaces/status/certificaterequests/s", {
      body: { ...updated, metadata: { ...updated.metadata, resourceVersion: undefined } },
    })
    expect(noRv.status).toBe(422)
  })

  it("deletes: returns the object, then 404", async () => {
    await create(admin, "deleting", crBody("d", { request, issuer: "unknown-issuer" }))
    const rec = await record(admin, "/apis/cert-manager.io/v1/namespaces/deleting/certificaterequests", {})
    const deleted = await admin.custom.deleteNamespacedCustomObject({
      ...CR,
      namespace: "deleting",
      name: "d",
    })
    expect(deleted).toMatchObject({ kind: "CertificateRequest", metadata: { name: "d" } })
    await eventually(() => rec.events.find((e) => e.type === "DELETED"))
    rec.stop()
    const again = await apiError(
      admin.custom.deleteNamespacedCustomObject({ ...CR, namespace: "deleting", name: "d" }),
    )
    expect(again.code).toBe(404)
  })
})

describe("finalizers and plain HTTP", () => {
  it("a finalizer keeps a deleted object (deletionTimestamp) until it is removed", async () => {
    const body = crBody("fin", { request, issuer: "unknown-issuer" })
    await create(admin, "fin", { ...body, metadata: { ...body.metadata, finalizers: ["example.com/hold"] } })
    const rec = await record(admin, "/apis/cert-manager.io/v1/namespaces/fin/certificaterequests", {})
    const marked = await admin.custom.deleteNamespacedCustomObject({ ...CR, namespace: "fin", name: "fin" })
    expect(marked.metadata.deletionTimestamp).toMatch(/Z$/)
    const still = await admin.custom.getNamespacedCustomObject({ ...CR, namespace: "fin", name: "fin" })
    expect(still.metadata.finalizers).toEqual(["example.com/hold"])
    await admin.custom.patchNamespacedCustomObject(
      { ...CR, namespace: "fin", name: "fin", body: { metadata: { finalizers: null } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    )
    await eventually(() => rec.events.find((e) => e.type === "DELETED"))
    rec.stop()
    expect(await sb.getCertificateRequest("fin", "fin")).toBeUndefined()
  })

  it("serves plain HTTP when tls is false", async () => {
    const plain = await startSandbox({ tls: false })
    try {
      expect(plain.url).toMatch(/^http:\/\//)
      const c = clientsFor(plain)
      const created = await create(c, "plain", crBody("p", { request }))
      expect(created.metadata.name).toBe("p")
      const pod = await c.core.createNamespacedPod({
        namespace: "plain",
        body: { metadata: { name: "api-pod" }, spec: { containers: [{ name: "c", image: "busybox" }] } },
      })
      expect(pod.status?.phase).toBe("Pending")
      expect(pod.spec?.serviceAccountName).toBe("default")
      expect((await plain.createdBy("pods", "plain", "api-pod"))?.username).toBe("kubernetes-admin")
    } finally {
      await plain.close()
    }
  })
})

describe("watch protocol", () => {
  const path = "/apis/cert-manager.io/v1/namespaces/watching/certificaterequests"

  it("resumes after a resourceVersion without replaying older events; rv 0 sends synthetic ADDED", async () => {
    await create(admin, "watching", crBody("w1", { request, issuer: "unknown-issuer" }))
    const w2 = await create(admin, "watching", crBody("w2", { request, issuer: "unknown-issuer" }))
    await sleep(100) // let the issuer mark both Pending
    const list = await admin.custom.listNamespacedCustomObject({ ...CR, namespace: "watching" })
    await admin.custom.patchNamespacedCustomObject(
      { ...CR, namespace: "watching", name: "w1", body: { metadata: { labels: { touched: "yes" } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    )
    const resumed = await record(admin, path, { resourceVersion: list.metadata.resourceVersion })
    const fromZero = await record(admin, path, { resourceVersion: "0" })
    const fromOld = await record(admin, path, { resourceVersion: w2.metadata.resourceVersion })
    await eventually(() => (resumed.events.length >= 1 && fromZero.events.length >= 2 ? true : undefined))
    await sleep(100)
    expect(resumed.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(["MODIFIED w1"])
    expect(fromZero.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual([
      "ADDED w1",
      "ADDED w2",
    ])
    // from w2's creation: both Pending updates, then the label
    expect(fromOld.events.map((e) => e.type)).toEqual(expect.arrayContaining(["MODIFIED"]))
    expect(fromOld.events.at(-1)?.object.metadata.labels).toEqual({ touched: "yes" })
    for (const r of [resumed, fromZero, fromOld]) r.stop()
  })

  it("selectors on a watch turn leaving into DELETED and entering into ADDED", async () => {
    await create(
      admin,
      "watchsel",
      crBody("s1", { request, issuer: "unknown-issuer", labels: { pick: "me" } }),
    )
    const rec = await record(admin, "/apis/cert-manager.io/v1/namespaces/watchsel/certificaterequests", {
      labelSelector: "pick=me",
      resourceVersion: "0",
    })
    const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch)
    const patchLabel = (value: string | null) =>
      admin.custom.patchNamespacedCustomObject(
        { ...CR, namespace: "watchsel", name: "s1", body: { metadata: { labels: { pick: value } } } },
        merge,
      )
    await eventually(() => rec.events.find((e) => e.type === "ADDED"))
    await sleep(100)
    await patchLabel(null)
    await eventually(() => rec.events.find((e) => e.type === "DELETED"))
    await patchLabel("me")
    await eventually(() => (rec.events.filter((e) => e.type === "ADDED").length === 2 ? true : undefined))
    rec.stop()
  })

  it("a too-old resourceVersion gets an ERROR event with a 410 Expired Status", async () => {
    const small = await startSandbox({ watchHistorySize: 2, tls: true })
    try {
      const c = clientsFor(small)
      const first = await create(c, "old", crBody("o1", { request, issuer: "unknown-issuer" }))
      for (const n of ["o2", "o3", "o4"])
        await create(c, "old", crBody(n, { request, issuer: "unknown-issuer" }))
      const rec = await record(c, "/apis/cert-manager.io/v1/namespaces/old/certificaterequests", {
        resourceVersion: first.metadata.resourceVersion,
      })
      await rec.done
      expect(rec.events).toHaveLength(1)
      expect(rec.events[0]).toMatchObject({
        type: "ERROR",
        object: { kind: "Status", status: "Failure", reason: "Expired", code: 410 },
      })
      expect(rec.events[0]?.object.message).toMatch(/^too old resource version: \d+ \(\d+\)$/)
    } finally {
      await small.close()
    }
  })

  it("sends BOOKMARKs when allowed, and timeoutSeconds ends the stream", async () => {
    const started = Date.now()
    const rec = await record(admin, path, { allowWatchBookmarks: true, timeoutSeconds: 1 })
    const noBookmarks = await record(admin, path, { timeoutSeconds: 1 })
    const err = await rec.done
    expect(err).toBeNull()
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(Date.now() - started).toBeLessThan(3000)
    const bookmarks = rec.events.filter((e) => e.type === "BOOKMARK")
    expect(bookmarks.length).toBeGreaterThanOrEqual(2)
    expect(bookmarks[0]?.object).toMatchObject({
      kind: "CertificateRequest",
      apiVersion: "cert-manager.io/v1",
    })
    expect(bookmarks[0]?.object.metadata.resourceVersion).toMatch(/^\d+$/)
    await noBookmarks.done
    expect(noBookmarks.events.filter((e) => e.type === "BOOKMARK")).toHaveLength(0)
  })

  it("speaks chunked newline-delimited JSON for watch=1 and the legacy /watch/ path", async () => {
    await create(admin, "rawwatch", crBody("r1", { request, issuer: "unknown-issuer" }))
    const [res, legacy] = await Promise.all([
      raw(
        sb,
        "GET",
        "/apis/cert-manager.io/v1/namespaces/rawwatch/certificaterequests?watch=1&resourceVersion=0&timeoutSeconds=1",
      ),
      raw(
        sb,
        "GET",
        "/apis/cert-manager.io/v1/watch/namespaces/rawwatch/certificaterequests/r1?timeoutSeconds=1",
      ),
    ])
    expect(res.status).toBe(200)
    expect(res.headers["content-type"]).toBe("application/json")
    expect(res.headers["transfer-encoding"]).toBe("chunked")
    const lines = res.text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l))
    expect(lines[0]).toMatchObject({
      type: "ADDED",
      object: { kind: "CertificateRequest", metadata: { name: "r1" } },
    })
    expect(JSON.parse(legacy.text.split("\n")[0] ?? "")).toMatchObject({
      type: "ADDED",
      object: { metadata: { name: "r1" } },
    })
  })

  it("sendInitialEvents ends the initial list with an annotated BOOKMARK", async () => {
    const rec = await record(admin, path, {
      sendInitialEvents: true,
      resourceVersionMatch: "NotOlderThan",
      allowWatchBookmarks: true,
    })
    await eventually(() => rec.events.find((e) => e.type === "BOOKMARK"))
    rec.stop()
    const end = rec.events.findIndex(
      (e) => e.object?.metadata?.annotations?.["k8s.io/initial-events-end"] === "true",
    )
    expect(end).toBeGreaterThan(0)
    expect(rec.events.slice(0, end).every((e) => e.type === "ADDED")).toBe(true)
  })
})

describe("authentication", () => {
  it("401 with a Status without a token or with a bad one; /version and /healthz stay open", async () => {
    for (const token of [null, "not-a-token"]) {
      const res = await raw(sb, "GET", "/apis/cert-manager.io/v1/certificaterequests", { token })
      expect(res.status).toBe(401)
      expect(res.json()).toMatchObject({ kind: "Status", reason: "Unauthorized", code: 401 })
    }
    const bad = await apiError(clientsFor(sb, "nope").custom.listClusterCustomObject({ ...CR }))
    expect(bad.code).toBe(401)
    expect((await raw(sb, "GET", "/version", { token: null })).json()).toMatchObject({
      major: "1",
      minor: "32",
    })
    expect((await raw(sb, "GET", "/readyz", { token: null })).text).toBe("ok")
  })

  it("expired service-account tokens and revoked users are refused", async () => {
    const expired = sb.serviceAccountToken("apps", "short", { expirationSeconds: -1 })
    expect((await raw(sb, "GET", "/api/v1/pods", { token: expired })).status).toBe(401)
    await sb.addUser("static-token", { username: "alice", groups: ["devs"] })
    const created = await create(
      clientsFor(sb, "static-token"),
      "alice",
      crBody("a", { request, issuer: "unknown-issuer" }),
    )
    expect(created.spec.username).toBe("alice")
    expect(created.spec.groups).toEqual(["devs", "system:authenticated"])
  })
})

describe("discovery", () => {
  it("serves /api, /apis and the resource lists", async () => {
    expect((await raw(sb, "GET", "/api")).json()).toMatchObject({ kind: "APIVersions", versions: ["v1"] })
    const groups = (await raw(sb, "GET", "/apis")).json()
    expect(groups).toMatchObject({ kind: "APIGroupList", groups: [{ name: "cert-manager.io" }] })
    const crs = (await raw(sb, "GET", "/apis/cert-manager.io/v1")).json() as {
      resources: Array<{ name: string; namespaced: boolean; kind: string }>
    }
    expect(crs.resources.map((r) => r.name)).toEqual(["certificaterequests", "certificaterequests/status"])
    const core = (await raw(sb, "GET", "/api/v1")).json() as { resources: Array<{ name: string }> }
    expect(core.resources.map((r) => r.name)).toEqual(
      expect.arrayContaining(["pods", "events", "namespaces"]),
    )
    expect((await raw(sb, "GET", "/apis/example.com/v1")).status).toBe(404)
  })
})

describe("core/v1", () => {
  it("deleting a pod garbage-collects the CertificateRequests it owns, with DELETED events", async () => {
    const pod = await sb.registerPod({ namespace: "gc", name: "web-0", serviceAccountName: "web" })
    const uid = pod.metadata.uid ?? ""
    expect(uid).not.toBe("")
    const listed = await admin.core.readNamespacedPod({ namespace: "gc", name: "web-0" })
    expect(listed.spec?.serviceAccountName).toBe("web")
    await create(admin, "gc", crBody("owned", { request, owner: { name: "web-0", uid } }))
    await create(admin, "gc", crBody("not-owned", { request }))
    const rec = await record(admin, "/apis/cert-manager.io/v1/namespaces/gc/certificaterequests", {})
    const podWatch = await record(admin, "/api/v1/namespaces/gc/pods", {})
    await admin.core.deleteNamespacedPod({ namespace: "gc", name: "web-0" })
    const gone = await eventually(() => rec.events.find((e) => e.type === "DELETED"))
    expect(gone.object.metadata.name).toBe("owned")
    await eventually(() => podWatch.events.find((e) => e.type === "DELETED"))
    rec.stop()
    podWatch.stop()
    const left = await sb.listCertificateRequests("gc")
    expect(left.map((c) => c.metadata.name)).toEqual(["not-owned"])
    expect(await sb.deletePod("gc", "web-0")).toBe(false)
  })

  it("events: create, list, get and a strategic merge patch that bumps count", async () => {
    const ev = await driver.core.createNamespacedEvent({
      namespace: "events",
      body: {
        metadata: { name: "web-0.1", namespace: "events" },
        involvedObject: { kind: "Pod", name: "web-0", namespace: "events", apiVersion: "v1" },
        reason: "CertificateIssued",
        message: "issued",
        type: "Normal",
        count: 1,
        source: { component: "cert-manager-csi-driver" },
      },
    })
    expect(ev.metadata?.uid).toBeDefined()
    const patched = await driver.core.patchNamespacedEvent(
      { namespace: "events", name: "web-0.1", body: { count: 2, message: "issued again" } },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    )
    expect(patched.count).toBe(2)
    const list = await admin.core.listNamespacedEvent({
      namespace: "events",
      fieldSelector: "involvedObject.name=web-0",
    })
    expect(list.items.map((i) => i.message)).toEqual(["issued again"])
    expect((await admin.core.readNamespacedEvent({ namespace: "events", name: "web-0.1" })).count).toBe(2)
    expect((await sb.createdBy("events", "events", "web-0.1"))?.username).toBe(
      "system:serviceaccount:cert-manager:cert-manager-csi-driver",
    )
    const wrongNs = await apiError(
      driver.core.createNamespacedEvent({
        namespace: "events",
        body: { metadata: { name: "x" }, involvedObject: { kind: "Pod", name: "p", namespace: "other" } },
      }),
    )
    expect(wrongNs.code).toBe(422)
  })

  it("namespaces exist implicitly", async () => {
    const ns = await admin.core.readNamespace({ name: "anything-at-all" })
    expect(ns.status?.phase).toBe("Active")
    const all = await admin.core.listNamespace()
    expect(all.items.map((n) => n.metadata?.name)).toEqual(
      expect.arrayContaining(["default", "kube-system", "gc"]),
    )
  })
})

describe("faults and counters", () => {
  it("a failure rate answers 503 with a Status; latency delays; counters count", async () => {
    await sb.resetStats()
    await sb.setFaults({ failureRate: 1 })
    const failed = await apiError(admin.custom.listClusterCustomObject({ ...CR }))
    expect(failed.code).toBe(503)
    expect(JSON.parse(failed.body)).toMatchObject({ kind: "Status", reason: "ServiceUnavailable", code: 503 })
    await sb.setFaults({ failureRate: 0, latencyMs: 150 })
    const t0 = Date.now()
    await admin.custom.listClusterCustomObject({ ...CR })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140)
    await sb.setFaults({ latencyMs: 0 })
    await create(admin, "counted", crBody("c", { request, issuer: "unknown-issuer" }))
    const stats = await sb.stats()
    expect(stats.requests.certificaterequests).toMatchObject({ list: 2, create: 1 })
    expect(stats.failuresInjected).toBe(1)
    expect(stats.writes).toBe(1)
  })

  it("drops watches after N seconds and counts open watches", async () => {
    await sb.setFaults({ dropWatchesAfterSeconds: 0.3 })
    const before = (await sb.stats()).watchesOpened
    const rec = await record(admin, "/apis/cert-manager.io/v1/certificaterequests", {})
    await eventually(async () => ((await sb.stats()).openWatches >= 1 ? true : undefined))
    const err = await rec.done
    expect(err).not.toBeNull()
    await sb.setFaults({ dropWatchesAfterSeconds: undefined })
    const stats = await sb.stats()
    expect(stats.watchesOpened).toBe(before + 1)
    await eventually(async () => ((await sb.stats()).openWatches === 0 ? true : undefined))
  })

  it("stop() takes the API away (connections dropped) and start() brings it back on the same URL", async () => {
    const rec = await record(admin, "/apis/cert-manager.io/v1/certificaterequests", {})
    await create(admin, "restart", crBody("before", { request, issuer: "unknown-issuer" }))
    await sb.stop()
    await rec.done
    const down = await admin.custom.listClusterCustomObject({ ...CR }).then(
      () => "up",
      (e: unknown) => String(e),
    )
    expect(down).toMatch(/ECONNREFUSED|fetch failed|connect/i)
    await sb.start()
    const after = await admin.custom.getNamespacedCustomObject({
      ...CR,
      namespace: "restart",
      name: "before",
    })
    expect(after.metadata.name).toBe("before")
  })
})

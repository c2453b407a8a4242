/**
 * Checks the deployment manifests under deploy/. Each build (overlays, a combination of the
 * components, the example) is assembled twice when kubectl is on PATH: by `kubectl kustomize`, and
 * by a small emulation of the kustomize features deploy/ uses, run on the YAML parsed with js-yaml.
 * Both go through the same assertions, and the two results must be identical, so the emulation
 * (the only check without kubectl) is itself checked against the real thing.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import type {
  RbacV1Subject,
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Container,
  V1CSIDriver,
  V1DaemonSet,
  V1Namespace,
  V1Pod,
  V1PolicyRule,
  V1Probe,
  V1Service,
  V1ServiceAccount,
} from "@kubernetes/client-node"
import { loadAll } from "js-yaml"
import { afterAll, describe, expect, it } from "vitest"

const repoRoot = path.resolve(import.meta.dirname, "../..")
const deployDir = path.join(repoRoot, "deploy")

const DRIVER = "cert-manager-csi-driver"
const DRIVER_NAME = "csi.cert-manager.io"
const IMAGE = "quay.io/jetstack/cert-manager-csi-driver-ts:0.1.0"

// ---------------------------------------------------------------------------------------------
// YAML objects

type Json = Record<string, unknown>
interface Manifest {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Json }
}

const isRecord = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

const isManifest = (u: unknown): u is Manifest =>
  isRecord(u) &&
  typeof u.apiVersion === "string" &&
  typeof u.kind === "string" &&
  isRecord(u.metadata) &&
  typeof u.metadata.name === "string"

const parseYaml = (text: string, source: string): unknown[] => {
  const docs = loadAll(text, { filename: source }).filter((d) => d !== null && d !== undefined)
  expect(docs.length, `${source} holds no YAML document`).toBeGreaterThan(0)
  return docs
}

const asManifests = (docs: ReadonlyArray<unknown>, source: string): Manifest[] =>
  docs.map((doc, i) => {
    expect(isManifest(doc), `${source} document ${i} is not a Kubernetes object`).toBe(true)
    return doc as Manifest
  })

const key = (m: Manifest) => `${m.kind}/${m.metadata.namespace ?? ""}/${m.metadata.name}`
const sortByKey = (ms: ReadonlyArray<Manifest>) => [...ms].sort((a, b) => key(a).localeCompare(key(b)))

/** The single object of a kind and name; the caller names the shape it expects. */
const one = <T>(objs: ReadonlyArray<Manifest>, kind: string, name: string): T => {
  const found = objs.filter((o) => o.kind === kind && o.metadata.name === name)
  expect(found.map(key), `exactly one ${kind}/${name}`).toHaveLength(1)
  return found[0] as T
}

/** Objects as `Kind/name`, sorted: the exact inventory of a build. */
const inventory = (objs: ReadonlyArray<Manifest>) => objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()

// ---------------------------------------------------------------------------------------------
// Assertions shared by the kubectl render and the js-yaml emulation

const sortedRules = (rules: ReadonlyArray<V1PolicyRule> | undefined) =>
  (rules ?? []).map((r) => ({ ...r, verbs: [...r.verbs].sort() }))

const container = (ds: V1DaemonSet, name: string): V1Container => {
  const c = ds.spec?.template.spec?.containers.find((x) => x.name === name)
  expect(c, `container ${name}`).toBeDefined()
  return c!
}

/** Value of `--flag=value` in args; undefined when absent. */
const flag = (c: V1Container, name: string) =>
  c.args?.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)

/** A probe's HTTP port as a number, resolving a port name against the container's ports. */
const probePort = (c: V1Container, probe: V1Probe | undefined): number | undefined => {
  const port = probe?.httpGet?.port
  return typeof port === "number" ? port : c.ports?.find((p) => p.name === port)?.containerPort
}

const expectBase = (objs: ReadonlyArray<Manifest>, opts: { tokenRequest: boolean; namespace: string }) => {
  const ns = opts.namespace
  // The driver owns its namespace (never cert-manager's), with Pod Security allowing a privileged DaemonSet.
  const namespace = one<V1Namespace>(objs, "Namespace", ns)
  expect(namespace.metadata?.labels?.["pod-security.kubernetes.io/enforce"]).toBe("privileged")

  const sa = one<V1ServiceAccount>(objs, "ServiceAccount", DRIVER)
  expect(sa.metadata?.namespace).toBe(ns)

  const role = one<V1ClusterRole>(objs, "ClusterRole", DRIVER)
  expect(sortedRules(role.rules)).toEqual([
    {
      apiGroups: ["cert-manager.io"],
      resources: ["certificaterequests"],
      verbs: ["create", "delete", "get", "list", "watch"],
    },
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
    { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
  ])
  const binding = one<V1ClusterRoleBinding>(objs, "ClusterRoleBinding", DRIVER)
  expect(binding.roleRef).toEqual({
    apiGroup: "rbac.authorization.k8s.io",
    kind: "ClusterRole",
    name: DRIVER,
  })
  expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: DRIVER, namespace: ns }])

  const csiDriver = one<V1CSIDriver>(objs, "CSIDriver", DRIVER_NAME)
  expect(csiDriver.apiVersion).toBe("storage.k8s.io/v1")
  expect(csiDriver.spec).toEqual({
    attachRequired: false,
    podInfoOnMount: true,
    volumeLifecycleModes: ["Ephemeral"],
    fsGroupPolicy: "File",
    requiresRepublish: opts.tokenRequest,
    ...(opts.tokenRequest ? { tokenRequests: [{ audience: "", expirationSeconds: 3600 }] } : {}),
  })

  const ds = one<V1DaemonSet>(objs, "DaemonSet", DRIVER)
  expect(ds.metadata?.namespace).toBe(ns)
  const pod = ds.spec!.template.spec!
  expect(ds.spec?.selector.matchLabels).toBeDefined()
  expect(ds.spec?.template.metadata?.labels).toMatchObject(ds.spec!.selector.matchLabels!)
  expect(pod.serviceAccountName).toBe(DRIVER)
  expect(pod.priorityClassName).toBe("system-node-critical")
  expect(pod.tolerations).toEqual([{ operator: "Exists" }])
  expect(pod.hostNetwork ?? false).toBe(false)
  // The token-request component patches containers/0, so the driver must stay first.
  expect(pod.containers.map((c) => c.name)).toEqual([DRIVER, "node-driver-registrar", "liveness-probe"])

  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v.hostPath]))
  expect(Object.fromEntries(volumes)).toEqual({
    "plugin-dir": { path: "/var/lib/kubelet/plugins/cert-manager-csi-driver", type: "DirectoryOrCreate" },
    "pods-mount-dir": { path: "/var/lib/kubelet/pods", type: "Directory" },
    "registration-dir": { path: "/var/lib/kubelet/plugins_registry", type: "Directory" },
    "csi-data-dir": { path: "/tmp/cert-manager-csi-driver", type: "DirectoryOrCreate" },
  })

  // The driver
  const driver = container(ds, DRIVER)
  expect(driver.image).toBe(IMAGE)
  expect(driver.args).toEqual([
    "--node-id=$(NODE_ID)",
    "--endpoint=unix:///plugin/csi.sock",
    `--driver-name=${DRIVER_NAME}`,
    "--data-root=/csi-data-dir",
    "--metrics-bind-address=:9402",
    "--log-level=info",
    "--log-format=json",
    ...(opts.tokenRequest ? ["--use-token-request"] : []),
  ])
  expect(driver.env).toEqual([{ name: "NODE_ID", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } }])
  expect(driver.securityContext).toMatchObject({ privileged: true, runAsUser: 0 })
  expect(driver.securityContext?.allowPrivilegeEscalation).not.toBe(false)
  expect(driver.ports?.map((p) => [p.name, p.containerPort])).toEqual([
    ["metrics", 9402],
    ["healthz", 9809],
  ])
  expect(driver.readinessProbe?.httpGet?.path).toBe("/readyz")
  expect(probePort(driver, driver.readinessProbe)).toBe(9402)
  expect(driver.livenessProbe?.httpGet?.path).toBe("/healthz")
  expect(probePort(driver, driver.livenessProbe)).toBe(9809)
  // kubelet must not time out before livenessprobe's own CSI Probe timeout (3s).
  expect(driver.livenessProbe?.timeoutSeconds ?? 1).toBeGreaterThan(3)

  const mounts = Object.fromEntries((driver.volumeMounts ?? []).map((m) => [m.mountPath, m]))
  expect(mounts["/plugin"]).toEqual({ name: "plugin-dir", mountPath: "/plugin" })
  expect(mounts["/var/lib/kubelet/pods"]).toEqual({
    name: "pods-mount-dir",
    mountPath: "/var/lib/kubelet/pods",
    mountPropagation: "Bidirectional",
  })
  expect(mounts[flag(driver, "data-root")!]).toEqual({
    name: "csi-data-dir",
    mountPath: "/csi-data-dir",
    mountPropagation: "Bidirectional",
  })

  // The socket the driver listens on is the one the sidecars dial and kubelet is told about.
  const socket = flag(driver, "endpoint")!.replace(/^unix:\/\//, "")
  const socketDir = path.posix.dirname(socket)
  expect(mounts[socketDir]?.name).toBe("plugin-dir")
  const hostSocket = path.posix.join(volumes.get("plugin-dir")!.path, path.posix.basename(socket))

  const registrar = container(ds, "node-driver-registrar")
  expect(registrar.image).toMatch(/^registry\.k8s\.io\/sig-storage\/csi-node-driver-registrar:v2\.\d+\.\d+$/)
  expect(flag(registrar, "csi-address")).toBe(socket)
  expect(flag(registrar, "kubelet-registration-path")).toBe(hostSocket)
  expect(hostSocket).toBe("/var/lib/kubelet/plugins/cert-manager-csi-driver/csi.sock")
  expect(registrar.volumeMounts).toEqual(
    expect.arrayContaining([
      { name: "plugin-dir", mountPath: socketDir },
      { name: "registration-dir", mountPath: "/registration" },
    ]),
  )

  const liveness = container(ds, "liveness-probe")
  expect(liveness.image).toMatch(/^registry\.k8s\.io\/sig-storage\/livenessprobe:v2\.\d+\.\d+$/)
  expect([...(liveness.args ?? [])].sort()).toEqual([
    `--csi-address=${socket}`,
    "--health-port=9809",
    "--probe-timeout=3s",
  ])
  expect(liveness.volumeMounts).toEqual([{ name: "plugin-dir", mountPath: socketDir }])

  for (const c of pod.containers) {
    expect(c.resources?.requests?.cpu, `${c.name} cpu request`).toBeDefined()
    expect(c.resources?.requests?.memory, `${c.name} memory request`).toBeDefined()
    expect(c.resources?.limits?.memory, `${c.name} memory limit`).toBeDefined()
    if (c.name !== DRIVER) expect(c.securityContext?.privileged ?? false, `${c.name} privileged`).toBe(false)
  }
}

const expectTokenRequestRbac = (objs: ReadonlyArray<Manifest>) => {
  const name = "cert-manager-csi-driver-cr-create"
  const role = one<V1ClusterRole>(objs, "ClusterRole", name)
  expect(role.rules).toEqual([
    { apiGroups: ["cert-manager.io"], resources: ["certificaterequests"], verbs: ["create"] },
  ])
  const binding = one<V1ClusterRoleBinding>(objs, "ClusterRoleBinding", name)
  expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name })
  // Scoped, unlike the documentation's `system:authenticated` example.
  const subjects: ReadonlyArray<RbacV1Subject> = binding.subjects ?? []
  expect(subjects).toEqual([
    { apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "system:serviceaccounts:sandbox" },
  ])
}

interface PodMonitor extends Manifest {
  readonly spec: {
    readonly selector: { readonly matchLabels: Json }
    readonly podMetricsEndpoints: ReadonlyArray<Json>
  }
}

const expectMetrics = (objs: ReadonlyArray<Manifest>, namespace: string) => {
  const ds = one<V1DaemonSet>(objs, "DaemonSet", DRIVER)
  const podLabels = ds.spec!.template.metadata!.labels!

  const svc = one<V1Service>(objs, "Service", `${DRIVER}-metrics`)
  expect(svc.metadata?.namespace).toBe(namespace)
  expect(svc.spec?.clusterIP).toBe("None")
  expect(podLabels).toMatchObject(svc.spec!.selector!)
  expect(svc.spec?.ports).toEqual([{ name: "metrics", port: 9402, targetPort: "metrics", protocol: "TCP" }])

  const monitor = one<PodMonitor>(objs, "PodMonitor", DRIVER)
  expect(monitor.apiVersion).toBe("monitoring.coreos.com/v1")
  expect(monitor.metadata.namespace).toBe(namespace)
  expect(podLabels).toMatchObject(monitor.spec.selector.matchLabels)
  expect(monitor.spec.podMetricsEndpoints).toEqual([
    expect.objectContaining({ port: "metrics", path: "/metrics" }),
  ])
  expect(container(ds, DRIVER).ports?.find((p) => p.name === "metrics")?.containerPort).toBe(9402)
}

interface CertManagerObject extends Manifest {
  readonly spec: Json
}

const expectExample = (objs: ReadonlyArray<Manifest>) => {
  expect(inventory(objs)).toEqual([
    "Certificate/sandbox-ca",
    "ClusterIssuer/selfsigned-issuer",
    "Issuer/ca-issuer",
    "Namespace/sandbox",
    "Pod/my-csi-app",
  ])
  one<V1Namespace>(objs, "Namespace", "sandbox")

  // The pod from the csi-driver documentation, unchanged.
  const pod = one<V1Pod>(objs, "Pod", "my-csi-app")
  expect(pod.metadata).toEqual({ name: "my-csi-app", namespace: "sandbox", labels: { app: "my-csi-app" } })
  expect(pod.spec).toEqual({
    containers: [
      {
        name: "my-frontend",
        image: "busybox",
        volumeMounts: [{ mountPath: "/tls", name: "tls" }],
        command: ["sleep", "1000000"],
      },
    ],
    volumes: [
      {
        name: "tls",
        csi: {
          driver: DRIVER_NAME,
          readOnly: true,
          volumeAttributes: {
            "csi.cert-manager.io/issuer-name": "ca-issuer",
            "csi.cert-manager.io/issuer-kind": "Issuer",
            "csi.cert-manager.io/dns-names": "${POD_NAME}.${POD_NAMESPACE}.svc.cluster.local",
          },
        },
      },
    ],
  })

  // SelfSigned ClusterIssuer -> CA Certificate -> CA Issuer, wired to each other and to the pod.
  const selfSigned = one<CertManagerObject>(objs, "ClusterIssuer", "selfsigned-issuer")
  expect(selfSigned.metadata.namespace).toBeUndefined()
  expect(selfSigned.spec).toEqual({ selfSigned: {} })
  const ca = one<CertManagerObject>(objs, "Certificate", "sandbox-ca")
  expect(ca.spec).toMatchObject({
    isCA: true,
    issuerRef: { group: "cert-manager.io", kind: "ClusterIssuer", name: "selfsigned-issuer" },
  })
  const issuer = one<CertManagerObject>(objs, "Issuer", "ca-issuer")
  expect(issuer.spec).toEqual({ ca: { secretName: ca.spec.secretName } })
  expect(typeof ca.spec.secretName).toBe("string")
  expect(ca.metadata.namespace).toBe("sandbox")
  expect(issuer.metadata.namespace).toBe("sandbox")
  for (const o of objs) expect(o.apiVersion, key(o)).toMatch(/^(v1|cert-manager\.io\/v1)$/)
}

// ---------------------------------------------------------------------------------------------
// The builds under test

interface Build {
  readonly name: string
  /** Directory the kustomization is in (or would be in, for a synthetic one). */
  readonly dir: string
  /** A kustomization not stored under deploy/, built from a temporary directory. */
  readonly synthetic?: Json
  readonly check: (objs: ReadonlyArray<Manifest>) => void
}

const baseInventory = (namespace = "cert-manager-csi-driver") =>
  [
    "CSIDriver/csi.cert-manager.io",
    `ClusterRole/${DRIVER}`,
    `ClusterRoleBinding/${DRIVER}`,
    `DaemonSet/${DRIVER}`,
    `Namespace/${namespace}`,
    `ServiceAccount/${DRIVER}`,
  ].sort()

const builds: ReadonlyArray<Build> = [
  {
    name: "overlays/default",
    dir: path.join(deployDir, "overlays/default"),
    check: (objs) => {
      expect(inventory(objs)).toEqual(baseInventory())
      expectBase(objs, { tokenRequest: false, namespace: "cert-manager-csi-driver" })
    },
  },
  {
    name: "overlays/token-request",
    dir: path.join(deployDir, "overlays/token-request"),
    check: (objs) => {
      expect(inventory(objs)).toEqual(
        [
          ...baseInventory(),
          "ClusterRole/cert-manager-csi-driver-cr-create",
          "ClusterRoleBinding/cert-manager-csi-driver-cr-create",
        ].sort(),
      )
      expectBase(objs, { tokenRequest: true, namespace: "cert-manager-csi-driver" })
      expectTokenRequestRbac(objs)
    },
  },
  {
    // Both components together, moved to another namespace as a user's overlay would.
    name: "base + components/token-request + components/metrics, namespace csi-test",
    dir: path.join(deployDir, "overlays/_combined"),
    synthetic: {
      apiVersion: "kustomize.config.k8s.io/v1beta1",
      kind: "Kustomization",
      namespace: "csi-test",
      resources: ["../../base"],
      components: ["../../components/token-request", "../../components/metrics"],
    },
    check: (objs) => {
      expect(inventory(objs)).toEqual(
        [...baseInventory("csi-test"), `PodMonitor/${DRIVER}`, `Service/${DRIVER}-metrics`].sort(),
      )
      expectBase(objs, { tokenRequest: true, namespace: "csi-test" })
      expectMetrics(objs, "csi-test")
    },
  },
  { name: "example", dir: path.join(deployDir, "example"), check: expectExample },
]

// ---------------------------------------------------------------------------------------------
// Emulation of the kustomize features deploy/ uses: resources (files and directories), components,
// namespace, images, patches (a strategic-merge file for a single object, or inline JSON 6902 with
// add/test). Anything else fails the test, so the emulation cannot silently diverge.

const CLUSTER_SCOPED = new Set([
  "Namespace",
  "ClusterRole",
  "ClusterRoleBinding",
  "CSIDriver",
  "ClusterIssuer",
])

const loadFile = (file: string) => parseYaml(readFileSync(file, "utf8"), path.relative(repoRoot, file))

const strings = (u: unknown, what: string): string[] => {
  if (u === undefined) return []
  expect(Array.isArray(u) && u.every((s) => typeof s === "string"), `${what} is a list of strings`).toBe(true)
  return u as string[]
}

/** Structural copy, so patches never touch a shared parse. */
const clone = <T>(u: T): T => structuredClone(u)

/** Strategic merge as deploy/ needs it: maps merge, everything else (lists included) is replaced. */
const merge = (target: unknown, patch: unknown): unknown => {
  if (!isRecord(target) || !isRecord(patch)) return clone(patch)
  const out: Json = { ...target }
  for (const [k, v] of Object.entries(patch)) {
    expect(k.startsWith("$"), `unsupported strategic-merge directive ${k}`).toBe(false)
    out[k] = k in target ? merge(target[k], v) : clone(v)
  }
  return out
}

const step = (node: unknown, token: string): unknown => {
  if (Array.isArray(node)) return node[Number(token)]
  return isRecord(node) ? node[token] : undefined
}

const applyJsonPatch = (doc: unknown, ops: ReadonlyArray<unknown>) => {
  for (const op of ops) {
    expect(isRecord(op) && typeof op.path === "string", "JSON patch op with a path").toBe(true)
    const { op: kind, path: pointer, value } = op as { op: string; path: string; value: unknown }
    const tokens = pointer
      .split("/")
      .slice(1)
      .map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"))
    const last = tokens.pop()!
    const parent = tokens.reduce(step, doc)
    if (kind === "test") {
      expect(step(parent, last), `JSON patch test ${pointer}`).toEqual(value)
    } else if (kind === "add" && Array.isArray(parent)) {
      parent.splice(last === "-" ? parent.length : Number(last), 0, clone(value))
    } else if (kind === "add" && isRecord(parent)) {
      parent[last] = clone(value)
    } else {
      expect.fail(`unsupported JSON patch op ${kind} at ${pointer}`)
    }
  }
}

const imageName = (image: string) => image.replace(/@.*$/, "").replace(/:[^:/]*$/, "")

const SUPPORTED_FIELDS = ["apiVersion", "kind", "namespace", "resources", "components", "images", "patches"]

const loadKustomization = (dir: string, files: Set<string>): Json => {
  const file = path.join(dir, "kustomization.yaml")
  files.add(file)
  const docs = loadFile(file)
  expect(docs.length === 1 && isRecord(docs[0]), `${file} is one mapping`).toBe(true)
  return docs[0] as Json
}

/**
 * The objects a kustomization builds; `files` collects every file read. `synthetic` stands in for
 * dir/kustomization.yaml when given.
 */
const emulate = (dir: string, synthetic?: Json, files = new Set<string>()): Manifest[] => {
  const k = synthetic ?? loadKustomization(dir, files)
  let objs = resourcesOf(dir, k, files)
  for (const c of strings(k.components, `${dir} components`)) {
    const cdir = path.resolve(dir, c)
    const ck = loadKustomization(cdir, files)
    expect(ck.kind, `${c} is a Component`).toBe("Component")
    expect(ck.components, `${c}: nested components`).toBeUndefined()
    objs = transform([...objs, ...resourcesOf(cdir, ck, files)], cdir, ck, files)
  }
  return transform(objs, dir, k, files)
}

const resourcesOf = (dir: string, k: Json, files: Set<string>): Manifest[] =>
  strings(k.resources, `${dir} resources`).flatMap((r) => {
    const p = path.resolve(dir, r)
    if (statSync(p).isDirectory()) return emulate(p, undefined, files)
    files.add(p)
    return asManifests(loadFile(p), r)
  })

/** A kustomization's (or component's) patches, then namespace, then images. */
const transform = (objs: ReadonlyArray<Manifest>, dir: string, k: Json, files: Set<string>): Manifest[] => {
  const unsupported = Object.keys(k).filter((f) => !SUPPORTED_FIELDS.includes(f))
  expect(unsupported, `${dir}: kustomization fields the emulation lacks`).toEqual([])
  let out = objs.map(clone)
  for (const p of (k.patches ?? []) as ReadonlyArray<Json>) {
    expect(
      Object.keys(p).every((f) => ["path", "target", "patch"].includes(f)),
      `${dir}: patch fields`,
    ).toBe(true)
    if (typeof p.path === "string") {
      const file = path.resolve(dir, p.path)
      files.add(file)
      const [patch] = asManifests(loadFile(file), p.path)
      const targets = out.filter((o) => o.kind === patch!.kind && o.metadata.name === patch!.metadata.name)
      expect(targets, `target of ${p.path}`).toHaveLength(1)
      out = out.map((o) => (o === targets[0] ? (merge(o, patch) as Manifest) : o))
    } else {
      const target = p.target as Json
      expect(typeof p.patch, `${dir}: inline patch`).toBe("string")
      const targets = out.filter((o) => o.kind === target.kind && o.metadata.name === target.name)
      expect(targets, `target of inline patch ${JSON.stringify(target)}`).toHaveLength(1)
      applyJsonPatch(targets[0], parseYaml(p.patch as string, dir)[0] as unknown[])
    }
  }

  if (typeof k.namespace === "string") {
    const ns = k.namespace
    const accounts = new Set(out.filter((o) => o.kind === "ServiceAccount").map((o) => o.metadata.name))
    out = out.map((o) => {
      // kustomize renames the build's Namespace object to the target namespace.
      if (o.kind === "Namespace") return { ...o, metadata: { ...o.metadata, name: ns } }
      if (!CLUSTER_SCOPED.has(o.kind)) return { ...o, metadata: { ...o.metadata, namespace: ns } }
      // kustomize also moves bindings' subjects that are ServiceAccounts of this build.
      const subjects = (o as V1ClusterRoleBinding).subjects?.map((s) =>
        s.kind === "ServiceAccount" && accounts.has(s.name) ? { ...s, namespace: ns } : s,
      )
      return subjects ? ({ ...o, subjects } as Manifest) : o
    })
  }

  for (const image of (k.images ?? []) as ReadonlyArray<Json>) {
    for (const o of out) {
      if (o.kind !== "DaemonSet") continue
      for (const c of (o as V1DaemonSet).spec?.template.spec?.containers ?? []) {
        if (c.image === undefined || imageName(c.image) !== image.name) continue
        c.image = `${(image.newName as string | undefined) ?? image.name}:${image.newTag as string}`
      }
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Tests

const yamlFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) return yamlFiles(p)
    return /\.ya?ml$/.test(e.name) ? [p] : []
  })

describe("deploy/ parsed with js-yaml (no kubectl needed)", () => {
  const files = yamlFiles(deployDir)

  it("finds the manifests", () => {
    expect(files.length).toBeGreaterThan(10)
  })

  it.each(files.map((f) => [path.relative(deployDir, f), f] as const))("%s parses", (_, file) => {
    const docs = loadFile(file)
    if (path.basename(file) === "kustomization.yaml") {
      expect(docs).toHaveLength(1)
      expect(["Kustomization", "Component"]).toContain((docs[0] as Json).kind)
    } else {
      asManifests(docs, file)
    }
  })

  for (const build of builds) {
    it(`${build.name} assembles and passes the checks`, () => {
      build.check(emulate(build.dir, build.synthetic))
    })
  }

  it("every YAML file under deploy/ belongs to some build", () => {
    const used = new Set<string>()
    for (const build of builds) emulate(build.dir, build.synthetic, used)
    expect(files.filter((f) => !used.has(f)).map((f) => path.relative(deployDir, f))).toEqual([])
  })
})

const hasKubectl = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" }).status === 0
if (!hasKubectl)
  console.warn("kubectl is not on PATH: skipping the `kubectl kustomize` render checks of deploy/")

describe.skipIf(!hasKubectl)("deploy/ rendered with kubectl kustomize", () => {
  const temp = mkdtempSync(path.join(tmpdir(), "csi-deploy-"))
  afterAll(() => rmSync(temp, { recursive: true, force: true }))

  /** Renders a build; a synthetic kustomization is written to a temp dir with paths rebased on it. */
  const render = (build: Build): Manifest[] => {
    let dir = build.dir
    if (build.synthetic) {
      dir = mkdtempSync(path.join(temp, "k-"))
      const rebase = (u: unknown) =>
        strings(u, "paths").map((p) => path.relative(dir, path.resolve(build.dir, p)))
      const k = { ...build.synthetic, resources: rebase(build.synthetic.resources) }
      writeFileSync(
        path.join(dir, "kustomization.yaml"),
        JSON.stringify({ ...k, components: rebase(build.synthetic.components) }),
      )
    }
    const out = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8" })
    expect(out.status, `kubectl kustomize ${build.name}: ${out.stderr}`).toBe(0)
    return asManifests(parseYaml(out.stdout, build.name), build.name)
  }

  for (const build of builds) {
    it(`${build.name} renders and passes the checks`, () => {
      const objs = render(build)
      build.check(objs)
      // The emulation used without kubectl must produce exactly what kustomize does.
      expect(sortByKey(objs)).toEqual(sortByKey(emulate(build.dir, build.synthetic)))
    })
  }
})

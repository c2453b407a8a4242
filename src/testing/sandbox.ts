/**
 * A whole fake cluster for tests and demos: the in-process Kubernetes API server (HTTPS
 * by default, with a serving certificate from the sandbox CA) plus the cert-manager-like
 * CA issuer watching it, and the handles tests need — kubeconfigs and tokens, pod
 * registration, inspection of what clients created, issuer behaviours, faults, counters,
 * and stopping/restarting the API on the same URL.
 *
 * `makeSandbox` is the Effect constructor (everything stops with its scope);
 * `startSandbox` wraps it for Promise-based suites; `runSandbox` backs the CLI's
 * `cert-manager-csi-driver sandbox` subcommand.
 */
import { randomBytes, randomUUID } from "node:crypto"
import { mkdir, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import {
  Cause,
  Console,
  Data,
  type Duration,
  Effect,
  Exit,
  Option,
  Predicate,
  Redacted,
  Result,
  Scope,
} from "effect"
import { type Faults, ServerControls, type Stats } from "./api-server/controls.js"
import type { KubeObject } from "./api-server/objects.js"
import { isJsonObject, type JsonObject, withMeta } from "./api-server/objects.js"
import { normalizePodStatus } from "./api-server/pod-status.js"
import { Pods, type StoredResource } from "./api-server/resources.js"
import { now } from "./api-server/rest.js"
import { ApiServer } from "./api-server/server.js"
import { ObjectStore } from "./api-server/store.js"
import { type NewUser, type ServiceAccountTokenOptions, type UserInfo, Users } from "./api-server/users.js"
import { badAnswerIssuers, type IssuerBehaviour } from "./issuer/behaviour.js"
import {
  type CaInput,
  type CertificateAuthority,
  generateCa,
  issueServingCertificate,
  loadCa,
} from "./issuer/ca.js"
import { Issuer } from "./issuer/controller.js"

export class SandboxError extends Data.TaggedError("SandboxError")<{
  readonly reason: string
  readonly cause?: unknown
}> {}

export interface SandboxOptions {
  /** Address to listen on. Default 127.0.0.1. */
  readonly host?: string
  /** Port; 0 (the default) picks a free one, kept across stop/start. */
  readonly port?: number
  /** Serve HTTPS (default true). kubectl sends bearer tokens only over HTTPS. */
  readonly tls?: boolean
  /** Issuer behaviours by name, on top of the defaults (`defaultBehaviours`: ca-issuer, slow-issuer, intermediate-issuer, deny-issuer, fail-issuer, malformed-issuer and one per bad answer). */
  readonly issuers?: Readonly<Record<string, IssuerBehaviour>>
  /** Approve new CertificateRequests automatically (default true). */
  readonly autoApprove?: boolean
  /** Sign with this CA instead of a generated ECDSA P-256 one. */
  readonly ca?: CaInput
  /** Events kept per resource for watch resume (default 1000); a watch from an older resourceVersion gets 410 Expired. */
  readonly watchHistorySize?: number
  /** How often bookmark-enabled watches get a BOOKMARK (default 10 seconds). */
  readonly bookmarkInterval?: Duration.Input
  /** Faults active from the start. */
  readonly faults?: Partial<Faults>
}

export interface PodInput {
  readonly namespace: string
  readonly name: string
  /** Default: a fresh UUID. */
  readonly uid?: string
  /** Default "default". */
  readonly serviceAccountName?: string
  readonly nodeName?: string
  readonly labels?: Readonly<Record<string, string>>
}

/**
 * A change to a pod, as kubelet, the CNI plugin or a controller would make it: each
 * field given replaces what the pod had (conditions are set by type, others kept; an
 * annotation set to null is removed).
 */
export interface PodUpdate {
  /** status.podIPs (status.podIP is the first); [] clears them. One per family, as the API requires. */
  readonly ips?: ReadonlyArray<string>
  readonly conditions?: ReadonlyArray<{
    readonly type: string
    readonly status: "True" | "False" | "Unknown"
  }>
  readonly annotations?: Readonly<Record<string, string | null>>
}

/** Resources the sandbox stores (namespaces are implicit). */
export type SandboxResource = StoredResource

/** The user the default `driverToken` authenticates as. */
export const driverServiceAccount = { namespace: "cert-manager", name: "cert-manager-csi-driver" } as const

/** What tests hold on a running sandbox; operations are Effects. */
export interface Sandbox {
  /** `https://127.0.0.1:<port>`. */
  readonly url: string
  readonly port: number
  /** PEM of the CA that signs issued certificates and the API's serving certificate. */
  readonly caPem: string
  /** Token of `kubernetes-admin` (group `kubeadm:cluster-admins`). */
  readonly adminToken: string
  /** Token of `system:serviceaccount:cert-manager:cert-manager-csi-driver`. */
  readonly driverToken: string
  /** Kubeconfig YAML for this sandbox, authenticating with `token` (default the admin's). */
  readonly kubeconfig: (token?: string) => string
  /** Mints a token for `system:serviceaccount:<namespace>:<name>`. */
  readonly serviceAccountToken: (
    namespace: string,
    name: string,
    options?: ServiceAccountTokenOptions,
  ) => string
  /** Adds a static bearer token for a user. */
  readonly addUser: (token: string, user: NewUser) => Effect.Effect<void>
  /** Creates a Running pod (as the admin) and returns it, uid included. */
  readonly registerPod: (pod: PodInput) => Effect.Effect<KubeObject, SandboxError>
  /** Changes a pod's IPs, conditions or annotations; invalid IPs fail as the API server refuses them. */
  readonly updatePod: (
    namespace: string,
    name: string,
    update: PodUpdate,
  ) => Effect.Effect<KubeObject, SandboxError>
  /**
   * Deletes a pod; objects it owns (by ownerReferences uid) are collected with DELETED watch
   * events, or, with `orphanDependents` (`kubectl delete --cascade=orphan`), kept with that
   * owner reference removed first, as the API server's orphan finalizer does. False if absent.
   */
  readonly deletePod: (
    namespace: string,
    name: string,
    options?: { readonly orphanDependents?: boolean },
  ) => Effect.Effect<boolean>
  readonly listCertificateRequests: (namespace?: string) => Effect.Effect<ReadonlyArray<KubeObject>>
  readonly getCertificateRequest: (namespace: string, name: string) => Effect.Effect<KubeObject | undefined>
  /** Any stored resource: certificaterequests, pods, events. */
  readonly listObjects: (
    resource: SandboxResource,
    namespace?: string,
  ) => Effect.Effect<ReadonlyArray<KubeObject>>
  /** The authenticated user whose request created the object. */
  readonly createdBy: (
    resource: SandboxResource,
    namespace: string,
    name: string,
  ) => Effect.Effect<UserInfo | undefined>
  readonly setIssuerBehaviour: (issuerName: string, behaviour: IssuerBehaviour) => Effect.Effect<void>
  /** Changes the named faults, keeps the others. */
  readonly setFaults: (faults: Partial<Faults>) => Effect.Effect<void>
  /** Cuts every open watch connection now. */
  readonly dropWatches: () => Effect.Effect<void>
  readonly stats: () => Effect.Effect<Stats>
  readonly resetStats: () => Effect.Effect<void>
  /** Stops the HTTP listener (open connections dropped); the store and issuer keep going. */
  readonly stop: () => Effect.Effect<void>
  /** Listens again on the same port. */
  readonly start: () => Effect.Effect<void, SandboxError>
  /** The CA, for tests that sign or verify themselves. */
  readonly ca: CertificateAuthority
}

/** The pod after `update`; a condition whose status changes gets `at` as its transition time. */
const podWith = (pod: KubeObject, update: PodUpdate, at: string): KubeObject => {
  const status: JsonObject = isJsonObject(pod.status) ? { ...pod.status } : {}
  if (update.ips !== undefined) {
    status.podIPs = update.ips.map((ip) => ({ ip }))
    status.podIP = update.ips[0] ?? ""
  }
  if (update.conditions !== undefined) {
    const conditions = Array.isArray(status.conditions) ? status.conditions.filter(isJsonObject) : []
    for (const wanted of update.conditions) {
      const before = conditions.findIndex((c) => c.type === wanted.type)
      const changed = before < 0 || conditions[before]?.status !== wanted.status
      const next = {
        ...(before < 0 ? {} : conditions[before]),
        type: wanted.type,
        status: wanted.status,
        ...(changed ? { lastTransitionTime: at } : {}),
      }
      if (before < 0) conditions.push(next)
      else conditions[before] = next
    }
    status.conditions = conditions
  }
  const annotations: Record<string, string> = { ...pod.metadata.annotations }
  for (const [key, value] of Object.entries(update.annotations ?? {})) {
    if (value === null) delete annotations[key]
    else annotations[key] = value
  }
  const { annotations: _before, ...others } = pod.metadata
  const metadata = Object.keys(annotations).length === 0 ? others : { ...others, annotations }
  return { ...pod, metadata, status }
}

const quote = (s: string): string => JSON.stringify(s)

interface KubeconfigUser {
  readonly name: string
  readonly token: string
}

/** Kubeconfig YAML with one context per user; strings are JSON-quoted, which YAML reads as-is. */
export const renderKubeconfig = (
  server: string,
  caPem: string | undefined,
  users: ReadonlyArray<KubeconfigUser>,
  current: string,
): string => {
  const cluster =
    caPem === undefined
      ? "    insecure-skip-tls-verify: true\n"
      : `    certificate-authority-data: ${quote(Buffer.from(caPem).toString("base64"))}\n`
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: sandbox",
    "  cluster:",
    `    server: ${quote(server)}`,
    cluster.trimEnd(),
    "users:",
    ...users.flatMap((u) => [`- name: ${quote(u.name)}`, "  user:", `    token: ${quote(u.token)}`]),
    "contexts:",
    ...users.flatMap((u) => [
      `- name: ${quote(u.name)}`,
      "  context:",
      "    cluster: sandbox",
      `    user: ${quote(u.name)}`,
      "    namespace: default",
    ]),
    `current-context: ${quote(current)}`,
    "",
  ].join("\n")
}

// our errors' reasons never quote key material, so they may join the message
const detailOf = (cause: unknown): string | undefined => {
  if (Predicate.hasProperty(cause, "reason") && typeof cause.reason === "string") return cause.reason
  if (Predicate.hasProperty(cause, "cause") && cause.cause instanceof Error) return cause.cause.message
  return undefined
}

const orSandboxError =
  (reason: string) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, SandboxError, R> =>
    Effect.mapError(self, (cause) => {
      const detail = detailOf(cause)
      return new SandboxError({ reason: detail === undefined ? reason : `${reason}: ${detail}`, cause })
    })

/** Starts a sandbox; it stops when the scope closes. */
export const makeSandbox = (options?: SandboxOptions): Effect.Effect<Sandbox, SandboxError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = options?.host ?? "127.0.0.1"
    const tls = options?.tls ?? true
    const ca = yield* (options?.ca === undefined ? generateCa() : loadCa(options.ca)).pipe(
      orSandboxError("cannot set up the sandbox CA"),
    )
    const serving = tls
      ? yield* issueServingCertificate(ca, [host]).pipe(
          orSandboxError("cannot issue the API serving certificate"),
        )
      : undefined
    const store = yield* ObjectStore.make(
      options?.watchHistorySize === undefined ? undefined : { watchHistorySize: options.watchHistorySize },
    )
    const users = yield* Users.make
    const controls = yield* ServerControls.make(options?.faults)

    const adminToken = randomBytes(32).toString("base64url")
    const admin: NewUser = { username: "kubernetes-admin", groups: ["kubeadm:cluster-admins"] }
    yield* users.add(adminToken, admin)
    const driverToken = Redacted.value(
      yield* users.serviceAccountToken(driverServiceAccount.namespace, driverServiceAccount.name),
    )

    const provide = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      effect.pipe(
        Effect.provideService(ObjectStore, store),
        Effect.provideService(Users, users),
        Effect.provideService(ServerControls, controls),
      )

    const server = yield* provide(
      ApiServer.make({
        host,
        port: options?.port ?? 0,
        ...(serving === undefined
          ? {}
          : {
              tls: {
                certificatePem: serving.certificatePem,
                privateKeyPem: Redacted.value(serving.privateKeyPem),
              },
            }),
        ...(options?.bookmarkInterval === undefined ? {} : { bookmarkInterval: options.bookmarkInterval }),
      }),
    ).pipe(orSandboxError("cannot start the API server"))

    const issuer = yield* provide(
      Issuer.make(ca, {
        ...(options?.issuers === undefined ? {} : { behaviours: options.issuers }),
        ...(options?.autoApprove === undefined ? {} : { autoApprove: options.autoApprove }),
      }),
    )

    const url = server.url()
    const adminUser: UserInfo = {
      username: admin.username,
      uid: "",
      groups: [...(admin.groups ?? []), "system:authenticated"],
    }

    const registerPod = (pod: PodInput) =>
      Effect.gen(function* () {
        const object: KubeObject = {
          apiVersion: "v1",
          kind: "Pod",
          metadata: {
            name: pod.name,
            namespace: pod.namespace,
            uid: pod.uid ?? randomUUID(),
            creationTimestamp: yield* now,
            ...(pod.labels === undefined ? {} : { labels: { ...pod.labels } }),
          },
          spec: {
            serviceAccountName: pod.serviceAccountName ?? "default",
            ...(pod.nodeName === undefined ? {} : { nodeName: pod.nodeName }),
            containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }],
          },
          status: { phase: "Running" },
        }
        return structuredClone(yield* store.create("pods", object, adminUser))
      }).pipe(orSandboxError("cannot register the pod"))

    const updatePod = (namespace: string, name: string, update: PodUpdate) =>
      Effect.gen(function* () {
        const at = yield* now
        const updated = yield* store.update("pods", namespace, name, (pod) =>
          normalizePodStatus(Pods, podWith(pod, update, at)),
        )
        return structuredClone(updated)
      }).pipe(
        Effect.mapError(
          (error) =>
            new SandboxError({
              reason: `cannot update pod ${namespace}/${name}: ${error.status.message}`,
              cause: error,
            }),
        ),
      )

    /** Takes the pod's owner reference off the objects that have it, so its deletion collects none. */
    const orphanDependents = (namespace: string, name: string) =>
      Effect.gen(function* () {
        const pod = yield* store.get("pods", namespace, name)
        const uid = pod.metadata.uid
        for (const resource of ["certificaterequests", "events"] as const) {
          for (const object of (yield* store.list(resource, namespace)).items) {
            const owners = object.metadata.ownerReferences ?? []
            if (!owners.some((owner) => owner.uid === uid)) continue
            yield* store.update(resource, namespace, object.metadata.name ?? "", (current) =>
              Result.succeed(
                withMeta(current, {
                  ownerReferences: (current.metadata.ownerReferences ?? []).filter(
                    (owner) => owner.uid !== uid,
                  ),
                }),
              ),
            )
          }
        }
      })

    const listObjects = (resource: SandboxResource, namespace?: string) =>
      Effect.map(store.list(resource, namespace), (l) => structuredClone(l.items))

    return {
      url,
      port: server.port(),
      caPem: ca.certificatePem,
      adminToken,
      driverToken,
      kubeconfig: (token) =>
        renderKubeconfig(
          url,
          tls ? ca.certificatePem : undefined,
          [{ name: "sandbox", token: token ?? adminToken }],
          "sandbox",
        ),
      serviceAccountToken: (namespace, name, tokenOptions) =>
        Redacted.value(Effect.runSync(users.serviceAccountToken(namespace, name, tokenOptions))),
      addUser: (token, user) => users.add(token, user),
      registerPod,
      updatePod,
      deletePod: (namespace, name, deleteOptions) =>
        Effect.gen(function* () {
          if (deleteOptions?.orphanDependents === true) yield* orphanDependents(namespace, name)
          return yield* store.remove("pods", namespace, name, yield* now)
        }).pipe(
          Effect.as(true),
          Effect.catchTag("ApiError", () => Effect.succeed(false)),
        ),
      listCertificateRequests: (namespace) => listObjects("certificaterequests", namespace),
      getCertificateRequest: (namespace, name) =>
        Effect.map(store.find("certificaterequests", namespace, name), (o) =>
          Option.isSome(o) ? structuredClone(o.value) : undefined,
        ),
      listObjects,
      createdBy: (resource, namespace, name) =>
        Effect.map(store.createdBy(resource, namespace, name), Option.getOrUndefined),
      setIssuerBehaviour: issuer.setBehaviour,
      setFaults: controls.setFaults,
      dropWatches: () => server.dropWatches,
      stats: () => controls.stats,
      resetStats: () => controls.resetStats,
      stop: () => server.stop,
      start: () => server.start.pipe(orSandboxError("cannot restart the API server")),
      ca,
    } satisfies Sandbox
  })

/** A sandbox operation with its Effect turned into a Promise; plain values stay as they are. */
type Promised<T> = {
  readonly [K in keyof T]: T[K] extends (...args: infer A) => Effect.Effect<infer R, infer _E>
    ? (...args: A) => Promise<R>
    : T[K]
}

/** The Promise face of a sandbox, for suites that do not use Effect: the same operations, awaited. */
export type RunningSandbox = Promised<Sandbox> & {
  /** Stops everything; the sandbox cannot be started again. */
  readonly close: () => Promise<void>
  /** The Effect face of the same sandbox. */
  readonly effect: Sandbox
}

const promised = (sandbox: Sandbox): Promised<Sandbox> =>
  Object.fromEntries(
    Object.entries(sandbox).map(([name, value]) => [
      name,
      typeof value === "function"
        ? (...args: Array<unknown>) => {
            const result: unknown = value(...args)
            // Every operation of a Sandbox needs no services: its effects run as they are.
            return Effect.isEffect(result)
              ? Effect.runPromise(result as Effect.Effect<unknown, unknown>)
              : result
          }
        : value,
    ]),
  ) as Promised<Sandbox>

/** Starts a sandbox outside Effect; call `close()` when done. Rejects with a `SandboxError`. */
export const startSandbox = async (options?: SandboxOptions): Promise<RunningSandbox> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(Scope.provide(scope)(makeSandbox(options)))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    return Promise.reject(Cause.squash(exit.cause))
  }
  return {
    ...promised(exit.value),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void)),
    effect: exit.value,
  }
}

export interface RunSandboxOptions {
  readonly port?: number
  /** Where to write the kubeconfig. Default `<tmpdir>/cert-manager-csi-driver-sandbox/kubeconfig`. */
  readonly kubeconfigOut?: string
  /** Directory for `ca.crt`. Default: the kubeconfig's directory. */
  readonly caOut?: string
}

const writeFileEffect = (path: string, data: string) =>
  Effect.tryPromise({
    try: async () => {
      await mkdir(dirname(path), { recursive: true })
      await writeFile(path, data, { mode: 0o600 })
    },
    catch: (cause) => new SandboxError({ reason: `cannot write ${path}`, cause }),
  })

const badIssuers = ["malformed-issuer", ...Object.values(badAnswerIssuers)].join(", ")

/** The `sandbox` subcommand: start, write the kubeconfig and ca.crt, say how to use them, run until interrupted. */
export const runSandbox = (options: RunSandboxOptions): Effect.Effect<never, SandboxError, Scope.Scope> =>
  Effect.gen(function* () {
    const sb = yield* makeSandbox(options.port === undefined ? undefined : { port: options.port })
    const kubeconfigPath = resolve(
      options.kubeconfigOut ?? join(tmpdir(), "cert-manager-csi-driver-sandbox", "kubeconfig"),
    )
    const caPath = join(resolve(options.caOut ?? dirname(kubeconfigPath)), "ca.crt")
    const kubeconfig = renderKubeconfig(
      sb.url,
      sb.caPem,
      [
        { name: "driver", token: sb.driverToken },
        { name: "admin", token: sb.adminToken },
      ],
      "driver",
    )
    yield* writeFileEffect(kubeconfigPath, kubeconfig)
    yield* writeFileEffect(caPath, sb.caPem)
    yield* Console.log(
      [
        `Sandbox Kubernetes API listening on ${sb.url} (cert-manager.io/v1 CertificateRequests, pods, events).`,
        `Issuers: ca-issuer (signs), slow-issuer (signs after 5s), intermediate-issuer (signs through an intermediate CA), deny-issuer, fail-issuer; answers the driver must refuse: ${badIssuers}; any other name stays pending.`,
        `Kubeconfig: ${kubeconfigPath} (context "driver" = system:serviceaccount:${driverServiceAccount.namespace}:${driverServiceAccount.name}, context "admin" = kubernetes-admin)`,
        `CA certificate: ${caPath}`,
        "",
        "Point the driver at it:",
        `  cert-manager-csi-driver --kubeconfig ${kubeconfigPath} --node-id <node> --endpoint unix:///tmp/csi.sock`,
        "Watch requests with kubectl:",
        `  KUBECONFIG=${kubeconfigPath} kubectl get certificaterequests -A -w`,
        "",
        "Press Ctrl-C to stop.",
      ].join("\n"),
    )
    return yield* Effect.never
  })

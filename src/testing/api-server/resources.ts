/**
 * The resources this API server serves and how each behaves (scope, subresources,
 * selectable fields, what DELETE returns), plus the discovery documents built from them
 * (`/api`, `/api/v1`, `/apis`, `/apis/cert-manager.io[/v1]`) in the plain, non-aggregated
 * form every client falls back to.
 */
import { getPath, type KubeObject } from "./objects.js"
import type { ResourceName } from "./status.js"

export interface ResourceDef extends ResourceName {
  readonly version: string
  readonly apiVersion: string
  readonly listKind: string
  readonly singularName: string
  readonly namespaced: boolean
  readonly shortNames: ReadonlyArray<string>
  readonly categories: ReadonlyArray<string>
  readonly verbs: ReadonlyArray<string>
  /** Has a `/status` subresource: the main resource then ignores status, `/status` ignores the rest. */
  readonly statusSubresource: boolean
  /** DELETE answers with the deleted object (else a Success Status). */
  readonly returnDeletedObject: boolean
  /** `metadata.generation` is maintained (bumped when anything but metadata/status changes). */
  readonly generation: boolean
  /** Field paths accepted in `fieldSelector`. */
  readonly selectableFields: ReadonlyArray<string>
}

const allVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

export const CertificateRequests: ResourceDef = {
  group: "cert-manager.io",
  version: "v1",
  apiVersion: "cert-manager.io/v1",
  resource: "certificaterequests",
  kind: "CertificateRequest",
  listKind: "CertificateRequestList",
  singularName: "certificaterequest",
  namespaced: true,
  shortNames: ["cr", "crs"],
  categories: ["cert-manager"],
  verbs: allVerbs,
  statusSubresource: true,
  returnDeletedObject: true,
  generation: true,
  selectableFields: ["metadata.name", "metadata.namespace"],
}

export const Pods: ResourceDef = {
  group: "",
  version: "v1",
  apiVersion: "v1",
  resource: "pods",
  kind: "Pod",
  listKind: "PodList",
  singularName: "pod",
  namespaced: true,
  shortNames: ["po"],
  categories: ["all"],
  verbs: allVerbs,
  statusSubresource: true,
  returnDeletedObject: true,
  generation: false,
  selectableFields: [
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
  ],
}

export const Events: ResourceDef = {
  group: "",
  version: "v1",
  apiVersion: "v1",
  resource: "events",
  kind: "Event",
  listKind: "EventList",
  singularName: "event",
  namespaced: true,
  shortNames: ["ev"],
  categories: [],
  verbs: allVerbs,
  statusSubresource: false,
  returnDeletedObject: false,
  generation: false,
  selectableFields: [
    "metadata.name",
    "metadata.namespace",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
  ],
}

/** Namespaces are not stored: every name exists (see `namespaceObject`). */
export const Namespaces: ResourceDef = {
  group: "",
  version: "v1",
  apiVersion: "v1",
  resource: "namespaces",
  kind: "Namespace",
  listKind: "NamespaceList",
  singularName: "namespace",
  namespaced: false,
  shortNames: ["ns"],
  categories: [],
  verbs: ["get", "list"],
  statusSubresource: false,
  returnDeletedObject: false,
  generation: false,
  selectableFields: ["metadata.name", "status.phase"],
}

/** The stored resources, by `group/resource` ("" group for core). */
export const storedResources: ReadonlyArray<ResourceDef> = [CertificateRequests, Pods, Events]

export type StoredResource = "certificaterequests" | "pods" | "events"

export const resourceByName = (name: StoredResource): ResourceDef =>
  name === "certificaterequests" ? CertificateRequests : name === "pods" ? Pods : Events

/** The value of a selectable field (`source` is the event's `source.component`). */
export const fieldValue = (def: ResourceDef, obj: KubeObject, field: string): string | undefined => {
  if (field === "metadata.name") return obj.metadata.name
  if (field === "metadata.namespace") return obj.metadata.namespace
  const path = def === Events && field === "source" ? "source.component" : field
  const v = getPath(obj, path)
  return v === undefined || v === null ? undefined : String(v)
}

const apiResource = (def: ResourceDef) => ({
  name: def.resource,
  singularName: def.singularName,
  namespaced: def.namespaced,
  kind: def.kind,
  verbs: def.verbs,
  ...(def.shortNames.length > 0 ? { shortNames: def.shortNames } : {}),
  ...(def.categories.length > 0 ? { categories: def.categories } : {}),
})

const statusResource = (def: ResourceDef) => ({
  name: `${def.resource}/status`,
  singularName: "",
  namespaced: def.namespaced,
  kind: def.kind,
  verbs: ["get", "patch", "update"],
})

const resourcesOf = (defs: ReadonlyArray<ResourceDef>) =>
  defs.flatMap((d) => (d.statusSubresource ? [apiResource(d), statusResource(d)] : [apiResource(d)]))

export const discovery = {
  version: {
    major: "1",
    minor: "32",
    gitVersion: "v1.32.0-csi-sandbox",
    gitCommit: "0000000000000000000000000000000000000000",
    gitTreeState: "clean",
    buildDate: "2024-12-11T00:00:00Z",
    goVersion: "go1.23.4",
    compiler: "gc",
    platform: "linux/amd64",
  },
  api: (serverAddress: string) => ({
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  }),
  coreV1: {
    kind: "APIResourceList",
    groupVersion: "v1",
    resources: resourcesOf([Events, Namespaces, Pods]),
  },
  certManagerGroup: {
    kind: "APIGroup",
    apiVersion: "v1",
    name: "cert-manager.io",
    versions: [{ groupVersion: "cert-manager.io/v1", version: "v1" }],
    preferredVersion: { groupVersion: "cert-manager.io/v1", version: "v1" },
  },
  certManagerV1: {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: "cert-manager.io/v1",
    resources: resourcesOf([CertificateRequests]),
  },
  groups: () => ({
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: [
      {
        name: "cert-manager.io",
        versions: [{ groupVersion: "cert-manager.io/v1", version: "v1" }],
        preferredVersion: { groupVersion: "cert-manager.io/v1", version: "v1" },
      },
    ],
  }),
}

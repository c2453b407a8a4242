/**
 * Server-side printing (`meta.k8s.io/v1` Table), which kubectl asks for with
 * `Accept: application/json;as=Table;g=meta.k8s.io;v=v1`: the columns cert-manager's CRD
 * declares for CertificateRequests (Approved, Denied, Ready, Issuer, Requester, Age) and
 * the apiserver's own for pods, events and namespaces.
 */
import { getPath, isJsonObject, type JsonObject, type KubeObject } from "./objects.js"
import type { ResourceDef } from "./resources.js"

export const wantsTable = (accept: string | undefined): boolean =>
  accept !== undefined &&
  accept
    .split(",")[0]!
    .split(";")
    .some((p) => p.trim() === "as=Table")

interface Column {
  readonly name: string
  readonly type: string
  readonly format?: string
  readonly priority?: number
  readonly description: string
  readonly cell: (obj: KubeObject, nowMs: number) => unknown
}

/** `kubectl`'s short age: 45s, 3m12s, 5h, 2d3h. */
export const humanAge = (since: string | undefined, nowMs: number): string => {
  if (since === undefined) return "<unknown>"
  const s = Math.max(0, Math.floor((nowMs - Date.parse(since)) / 1000))
  if (s < 120) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`
  if (m < 180) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 48) return m % 60 === 0 || h >= 8 ? `${h}h` : `${h}h${m % 60}m`
  const d = Math.floor(h / 24)
  return h % 24 === 0 || d >= 8 ? `${d}d` : `${d}d${h % 24}h`
}

const condition = (obj: KubeObject, type: string): JsonObject | undefined => {
  const conditions = getPath(obj, "status.conditions")
  return Array.isArray(conditions) ? conditions.find((c) => isJsonObject(c) && c.type === type) : undefined
}

const str = (v: unknown): string => (v === undefined || v === null ? "" : String(v))

const nameColumn: Column = {
  name: "Name",
  type: "string",
  format: "name",
  description: "Name must be unique within a namespace.",
  cell: (o) => o.metadata.name ?? "",
}

const ageColumn: Column = {
  name: "Age",
  type: "date",
  description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
  cell: (o, now) => humanAge(o.metadata.creationTimestamp, now),
}

const columnsFor = (def: ResourceDef): ReadonlyArray<Column> => {
  switch (def.resource) {
    case "certificaterequests":
      return [
        nameColumn,
        {
          name: "Approved",
          type: "string",
          description: "",
          cell: (o) => str(condition(o, "Approved")?.status),
        },
        { name: "Denied", type: "string", description: "", cell: (o) => str(condition(o, "Denied")?.status) },
        { name: "Ready", type: "string", description: "", cell: (o) => str(condition(o, "Ready")?.status) },
        {
          name: "Issuer",
          type: "string",
          description: "",
          cell: (o) => str(getPath(o, "spec.issuerRef.name")),
        },
        { name: "Requester", type: "string", description: "", cell: (o) => str(getPath(o, "spec.username")) },
        {
          name: "Status",
          type: "string",
          priority: 1,
          description: "",
          cell: (o) => str(condition(o, "Ready")?.message),
        },
        ageColumn,
      ]
    case "pods":
      return [
        nameColumn,
        {
          name: "Ready",
          type: "string",
          description: "",
          cell: (o) => (getPath(o, "status.phase") === "Running" ? "1/1" : "0/1"),
        },
        { name: "Status", type: "string", description: "", cell: (o) => str(getPath(o, "status.phase")) },
        { name: "Restarts", type: "string", description: "", cell: () => "0" },
        ageColumn,
      ]
    case "events":
      return [
        {
          name: "Last Seen",
          type: "string",
          description: "",
          cell: (o, now) =>
            humanAge(
              str(getPath(o, "lastTimestamp")) ||
                str(getPath(o, "eventTime")) ||
                o.metadata.creationTimestamp,
              now,
            ),
        },
        { name: "Type", type: "string", description: "", cell: (o) => str(getPath(o, "type")) },
        { name: "Reason", type: "string", description: "", cell: (o) => str(getPath(o, "reason")) },
        {
          name: "Object",
          type: "string",
          description: "",
          cell: (o) =>
            `${str(getPath(o, "involvedObject.kind")).toLowerCase()}/${str(getPath(o, "involvedObject.name"))}`,
        },
        { name: "Message", type: "string", description: "", cell: (o) => str(getPath(o, "message")) },
      ]
    case "namespaces":
      return [
        nameColumn,
        { name: "Status", type: "string", description: "", cell: (o) => str(getPath(o, "status.phase")) },
        ageColumn,
      ]
    default:
      return [nameColumn, ageColumn]
  }
}

const isKubeObject = (u: unknown): u is KubeObject => isJsonObject(u) && isJsonObject(u.metadata)

const partialMetadata = (o: KubeObject) => ({
  kind: "PartialObjectMetadata",
  apiVersion: "meta.k8s.io/v1",
  metadata: o.metadata,
})

/** Renders an object or a list as a Table; anything else (a Status) passes through. */
export const toTable = (def: ResourceDef, body: unknown, nowMs: number): unknown => {
  if (!isJsonObject(body)) return body
  const isList = Array.isArray(body.items)
  if (!isList && (body.kind !== def.kind || !isJsonObject(body.metadata))) return body
  const items = (isList ? (body.items as ReadonlyArray<unknown>) : [body]).filter(isKubeObject)
  const columns = columnsFor(def)
  const listMeta = isList && isJsonObject(body.metadata) ? body.metadata : {}
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: isList ? listMeta : { resourceVersion: (body as KubeObject).metadata.resourceVersion },
    columnDefinitions: columns.map(({ cell: _cell, ...c }) => ({ format: "", priority: 0, ...c })),
    rows: items.map((o) => ({ cells: columns.map((c) => c.cell(o, nowMs)), object: partialMetadata(o) })),
  }
}

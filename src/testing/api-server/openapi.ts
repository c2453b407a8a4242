/**
 * Just enough OpenAPI v3 for kubectl: before `create -f` or `apply`, kubectl reads
 * `/openapi/v3` and the group-version document to learn whether the server validates
 * fields itself (a PATCH operation with the `fieldValidation` query parameter for the
 * object's GVK). We declare that it does, so kubectl skips client-side schema validation
 * (which would need full schemas) and sends `fieldValidation=Strict`, which this server
 * accepts and, having no schemas, does not enforce.
 */
import { CertificateRequests, Events, Pods, type ResourceDef } from "./resources.js"

const groupVersions: Record<string, ReadonlyArray<ResourceDef>> = {
  "api/v1": [Events, Pods],
  "apis/cert-manager.io/v1": [CertificateRequests],
}

// Bumped when the documents change, so kubectl's on-disk cache (keyed by it) refreshes.
const hash = "csi-sandbox-1"

export const openApiRoot = () => ({
  paths: Object.fromEntries(
    Object.keys(groupVersions).map((gv) => [gv, { serverRelativeURL: `/openapi/v3/${gv}?hash=${hash}` }]),
  ),
})

const operation = (def: ResourceDef, action: string) => ({
  operationId: `${action}${def.kind}`,
  "x-kubernetes-action": action,
  "x-kubernetes-group-version-kind": { group: def.group, version: def.version, kind: def.kind },
  parameters: [
    { name: "dryRun", in: "query", schema: { type: "string", uniqueItems: true } },
    { name: "fieldManager", in: "query", schema: { type: "string", uniqueItems: true } },
    { name: "fieldValidation", in: "query", schema: { type: "string", uniqueItems: true } },
  ],
  responses: { "200": { description: "OK" } },
})

/** The document for one group-version (`api/v1`, `apis/cert-manager.io/v1`); undefined for others. */
export const openApiGroupVersion = (gv: string) => {
  const defs = groupVersions[gv]
  if (defs === undefined) return undefined
  const paths: Record<string, unknown> = {}
  for (const def of defs) {
    const base = `/${gv}/namespaces/{namespace}/${def.resource}`
    paths[base] = { post: operation(def, "post") }
    paths[`${base}/{name}`] = { put: operation(def, "put"), patch: operation(def, "patch") }
  }
  return { openapi: "3.0.0", info: { title: "Kubernetes", version: "v1.32.0" }, paths, components: {} }
}

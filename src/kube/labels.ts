/**
 * The labels that tie a CertificateRequest to the node and volume that made it.
 * Values are hashed exactly as csi-lib hashes them (FNV-1 32-bit of the id, its
 * decimal digits mapped through apimachinery's SafeEncodeString alphabet), so
 * requests made by the Go driver and by this one select the same way.
 */
export const nodeIdHashLabel = "csi.cert-manager.io/node-id-hash"
export const volumeIdHashLabel = "csi.cert-manager.io/volume-id-hash"

const alphanums = "bcdfghjklmnpqrstvwxz2456789"

const utf8 = new TextEncoder()

const fnv1_32 = (input: string): number => {
  let hash = 0x811c9dc5
  for (const byte of utf8.encode(input)) {
    hash = Math.imul(hash, 0x01000193) >>> 0
    hash = (hash ^ byte) >>> 0
  }
  return hash
}

const safeEncode = (s: string): string =>
  [...s].map((c) => alphanums[c.charCodeAt(0) % alphanums.length]).join("")

export const hashIdentifier = (id: string): string => safeEncode(String(fnv1_32(id)))

export const nodeSelector = (nodeId: string): string => `${nodeIdHashLabel}=${hashIdentifier(nodeId)}`

export const labelsFor = (nodeId: string, volumeId: string): Record<string, string> => ({
  [nodeIdHashLabel]: hashIdentifier(nodeId),
  [volumeIdHashLabel]: hashIdentifier(volumeId),
})

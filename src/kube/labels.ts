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
  // An ASCII id (a volume id, a node name) is its own UTF-8: no bytes to make.
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i)
    if (code >= 0x80) return fnv1_32Bytes(hash, utf8.encode(input.slice(i)))
    hash = (Math.imul(hash, 0x01000193) ^ code) >>> 0
  }
  return hash
}

const fnv1_32Bytes = (from: number, bytes: Uint8Array): number => {
  let hash = from
  for (let i = 0; i < bytes.length; i++) hash = (Math.imul(hash, 0x01000193) ^ (bytes[i] as number)) >>> 0
  return hash
}

const safeEncode = (s: string): string => {
  let out = ""
  for (let i = 0; i < s.length; i++) out += alphanums[s.charCodeAt(i) % alphanums.length]
  return out
}

export const hashIdentifier = (id: string): string => safeEncode(String(fnv1_32(id)))

export const nodeSelector = (nodeId: string): string => `${nodeIdHashLabel}=${hashIdentifier(nodeId)}`

/** The node's hash, the same for every request the driver makes. */
let lastNode: { readonly id: string; readonly hash: string } | undefined

const nodeHash = (nodeId: string): string => {
  if (lastNode?.id !== nodeId) lastNode = { id: nodeId, hash: hashIdentifier(nodeId) }
  return lastNode.hash
}

export const labelsFor = (nodeId: string, volumeId: string): Record<string, string> => ({
  [nodeIdHashLabel]: nodeHash(nodeId),
  [volumeIdHashLabel]: hashIdentifier(volumeId),
})

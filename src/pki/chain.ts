/**
 * Whether an issued certificate chains to a trust anchor (a certificate of the
 * issuer's `status.ca`) through the intermediates the issuer sent, in any order:
 * each link must name its issuer (subject/issuer and key identifiers, OpenSSL's
 * `X509_check_issued`) and carry that issuer's signature, and every intermediate
 * used must be a CA. Not a full RFC 5280 path validation (no policies, name
 * constraints or path lengths): enough to refuse an answer signed by another CA.
 */
import type * as crypto from "node:crypto"

// Adapter: verify throws for keys OpenSSL cannot use to verify (say, a DH key).
const verifies = (child: crypto.X509Certificate, parent: crypto.X509Certificate): boolean => {
  try {
    return child.verify(parent.publicKey)
  } catch {
    return false
  }
}

/** `parent` names and signed `child`. */
export const issuedBy = (child: crypto.X509Certificate, parent: crypto.X509Certificate): boolean =>
  child.checkIssued(parent) && verifies(child, parent)

/**
 * A search over "was issued by" links from the leaf. Reachability needs no path
 * bookkeeping, so each intermediate is expanded at most once: quadratic in the
 * (bounded) number of certificates at worst. A leaf that is itself one of the
 * anchors (a self-signed issuer's answer) is trusted as it is.
 */
export const chainsTo = (
  leaf: crypto.X509Certificate,
  intermediates: ReadonlyArray<crypto.X509Certificate>,
  anchors: ReadonlyArray<crypto.X509Certificate>,
): boolean => {
  if (anchors.some((anchor) => anchor.raw.equals(leaf.raw))) return true
  const used = new Set<number>()
  const queue = [leaf]
  for (let current = queue.shift(); current !== undefined; current = queue.shift()) {
    const child = current
    if (anchors.some((anchor) => issuedBy(child, anchor))) return true
    intermediates.forEach((candidate, i) => {
      if (used.has(i) || !candidate.ca || !issuedBy(child, candidate)) return
      used.add(i)
      queue.push(candidate)
    })
  }
  return false
}

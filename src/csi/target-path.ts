/**
 * The rule for `target_path`, the directory kubelet asks the driver to mount a volume
 * on (NodePublishVolume) or take it off (NodeUnpublishVolume). Kubelet always sends
 * `<kubelet-root>/pods/<pod-uid>/volumes/kubernetes.io~csi/<volume-name>/mount`: an
 * absolute, clean path outside the driver's data root. Anything else is refused before
 * the path is used at all: a relative path would resolve against the driver's working
 * directory, `..` could climb anywhere, and `/` or the data root itself would have the
 * driver mount over, or unmount and delete, every other volume on the node.
 *
 * The same rule runs twice: on the path as sent (csi/request.ts), and on the path as the
 * disk resolves it (volume/target.ts), so a symlinked parent cannot lead around it.
 */

/** Linux's PATH_MAX and NAME_MAX, in bytes. */
export const maxPathBytes = 4096
export const maxComponentBytes = 255

/** What a valid target path looks like, for messages. */
export const kubeletTargetPath = "<kubelet-root>/pods/<pod-uid>/volumes/kubernetes.io~csi/<volume-name>/mount"

/** Characters of a path shown in a message: kubelet's run to ~130, so longer ones are cut. */
const shownChars = 160

const byteLength = (text: string) => Buffer.byteLength(text, "utf8")

/**
 * `text` JSON-quoted (so NUL and newlines show as escapes); past `chars` characters, its
 * start and end (where a path names the volume) with its length in bytes.
 */
export const quoteCut = (text: string, chars = shownChars): string => {
  if (text.length <= chars) return JSON.stringify(text)
  const tail = Math.floor(chars / 4)
  const head = JSON.stringify(text.slice(0, chars - tail))
  return `${head}…${JSON.stringify(text.slice(-tail))} (${byteLength(text)} bytes)`
}

/** Whether `inner` is `outer` or below it; both absolute and normalized. */
export const isWithin = (inner: string, outer: string): boolean =>
  inner === outer || outer === "/" || inner.startsWith(`${outer}/`)

/** Why `target` is not absolute and normalized, or undefined when it is. */
const shapeProblem = (target: string): string | undefined => {
  if (target.includes("\0")) return "must not contain a NUL byte"
  const bytes = byteLength(target)
  if (bytes > maxPathBytes) return `is ${bytes} bytes long; the limit is ${maxPathBytes}`
  if (!target.startsWith("/")) return "must be an absolute path"
  if (target === "/") return "must not be /"
  const components = target.slice(1).split("/")
  if (components.some((c) => c === "" || c === "." || c === "..")) {
    return "must be normalized: no '.' or '..' components, no '//', no trailing '/'"
  }
  const long = components.find((c) => byteLength(c) > maxComponentBytes)
  if (long !== undefined) {
    return `has a component of ${byteLength(long)} bytes (${quoteCut(long, 40)}); the limit is ${maxComponentBytes}`
  }
  return undefined
}

/** Why `target` overlaps a data root (a path of the same directory), or undefined when it does not. */
const dataRootProblem = (target: string, dataRoots: ReadonlyArray<string>): string | undefined => {
  for (const root of dataRoots) {
    if (target === root) return `is the driver's data root (--data-root=${quoteCut(root)})`
    if (isWithin(target, root)) return `is inside the driver's data root (--data-root=${quoteCut(root)})`
    if (isWithin(root, target)) return `contains the driver's data root (--data-root=${quoteCut(root)})`
  }
  return undefined
}

/**
 * Why `target` cannot be a target path, as a whole sentence naming `target_path`, or
 * undefined when it can. `dataRoots` are the data root's absolute paths (as configured
 * and as resolved on disk); `resolvedFrom` is the path as sent, when `target` is its
 * resolution on disk.
 */
export const targetPathProblem = (
  target: string,
  dataRoots: ReadonlyArray<string>,
  resolvedFrom?: string,
): string | undefined => {
  if (target === "") return "target_path is required"
  const problem = shapeProblem(target) ?? dataRootProblem(target, dataRoots)
  if (problem === undefined) return undefined
  const shown =
    resolvedFrom === undefined || resolvedFrom === target
      ? quoteCut(target)
      : `${quoteCut(resolvedFrom)}, which resolves to ${quoteCut(target)},`
  return `target_path ${shown} ${problem}: kubelet sends ${kubeletTargetPath}`
}

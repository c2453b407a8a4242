/**
 * Parser for `/proc/self/mountinfo` (proc(5)): which paths are mount points, and of
 * what. The Mounter reads it instead of comparing device numbers, because a bind
 * mount of a directory on the same filesystem keeps the device number of its parent.
 */

export interface MountInfoEntry {
  /** Where it is mounted, unescaped. */
  readonly mountPoint: string
  /** The directory of the source filesystem that appears at the mount point (`/` unless a bind mount). */
  readonly root: string
  readonly fsType: string
  readonly source: string
  /** Per-mount options, e.g. `ro`, `nosuid`, `relatime`. */
  readonly mountOptions: ReadonlyArray<string>
  /** Per-superblock options, e.g. `mode=700`, `size=…`. */
  readonly superOptions: ReadonlyArray<string>
}

/** The kernel writes space, tab, newline and backslash in paths as three-digit octal escapes (`\040`). */
export const unescapeOctal = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)))

/**
 * One line: `id parent major:minor root mountPoint options [optional fields…] - fsType source superOptions`.
 * The number of optional fields varies (shared:N, master:N, …), so the `-` separator anchors the tail.
 */
export const parseMountInfoLine = (line: string): MountInfoEntry | undefined => {
  const fields = line.trim().split(" ")
  const separator = fields.indexOf("-", 6)
  if (fields.length < 7 || separator < 0 || fields.length < separator + 3) return undefined
  return {
    root: unescapeOctal(fields[3]!),
    mountPoint: unescapeOctal(fields[4]!),
    mountOptions: fields[5]!.split(","),
    fsType: fields[separator + 1]!,
    source: unescapeOctal(fields[separator + 2]!),
    superOptions: (fields[separator + 3] ?? "").split(",").filter((option) => option !== ""),
  }
}

/** Every well-formed line, in order (later lines are mounted on top of earlier ones). */
export const parseMountInfo = (text: string): ReadonlyArray<MountInfoEntry> =>
  text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .flatMap((line) => {
      const entry = parseMountInfoLine(line)
      return entry === undefined ? [] : [entry]
    })

/** How mountinfo writes a path: space, tab, newline and backslash as octal escapes. */
export const escapeOctal = (path: string): string =>
  path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`)

/**
 * The entries mounted at `path`, straight from the mountinfo text: only lines that name the
 * path are parsed, so a node with thousands of mounts costs a string scan, not a full parse.
 */
export const mountsAtIn = (text: string, path: string): ReadonlyArray<MountInfoEntry> => {
  const needle = ` ${escapeOctal(path)} `
  return parseMountInfo(
    text
      .split("\n")
      .filter((line) => line.includes(needle))
      .join("\n"),
  ).filter((entry) => entry.mountPoint === path)
}

/** The entries mounted at `path` (several when mounts are stacked), last = topmost. */
export const mountsAt = (
  entries: ReadonlyArray<MountInfoEntry>,
  path: string,
): ReadonlyArray<MountInfoEntry> => entries.filter((entry) => entry.mountPoint === path)

/** `p` and each of its ancestors up to `/`; `p` absolute and normalized. */
const selfAndAncestors = (p: string): ReadonlyArray<string> => {
  const all = [p]
  for (let at = p; at !== "/"; ) {
    at = at.slice(0, at.lastIndexOf("/")) || "/"
    all.push(at)
  }
  return all
}

/**
 * The mount a path lives on: of the mounts at the path or an ancestor, the one mounted
 * last (a later mount on an ancestor covers earlier ones below it). `p` is a real path.
 */
export const mountContaining = (text: string, p: string): MountInfoEntry | undefined => {
  const points = selfAndAncestors(p)
  const needles = points.map((point) => ` ${escapeOctal(point)} `)
  const lines = text.split("\n").filter((line) => needles.some((needle) => line.includes(needle)))
  return parseMountInfo(lines.join("\n"))
    .filter((entry) => points.includes(entry.mountPoint))
    .at(-1)
}

/**
 * The roots (field 4) a bind mount of the directory `source` shows in mountinfo: its
 * path below the root of the filesystem it lives on, as that filesystem is mounted now,
 * and as an earlier mount of a whole filesystem at the same place showed it (the data
 * root's tmpfs can be replaced while pods keep binds of the old one). `source` is a
 * real path.
 */
export const bindRootsOf = (text: string, source: string): ReadonlyArray<string> => {
  const host = mountContaining(text, source)
  if (host === undefined) return [source]
  const below =
    source === host.mountPoint ? "/" : host.mountPoint === "/" ? source : source.slice(host.mountPoint.length)
  const now = host.root === "/" ? below : below === "/" ? host.root : `${host.root}${below}`
  // A whole filesystem's root is never a volume's directory: when `source` is a mount point
  // itself (an adopted data directory), only the root it shows counts.
  return now === below || below === "/" ? [now] : [now, below]
}

/** Whether `entry` is a bind of a directory on the data root's tmpfs whose mounted root is one of `roots`. */
export const isBindOf = (entry: MountInfoEntry, roots: ReadonlyArray<string>): boolean =>
  entry.fsType === "tmpfs" && roots.includes(entry.root)

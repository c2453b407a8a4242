/**
 * Files shipped with the package (package.json, proto/), found from the package's
 * root: the nearest directory above this module that holds package.json. Walking up
 * rather than a fixed `../` keeps it right wherever the code sits — src/ (tests),
 * dist/ (tsc) or the driver's bundle, where modules take the URL of their chunk.
 */
import { existsSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const findRoot = (from: string): string => {
  const parent = path.dirname(from)
  if (existsSync(path.join(from, "package.json")) || parent === from) return from
  return findRoot(parent)
}

const root = findRoot(path.dirname(fileURLToPath(import.meta.url)))

/** The absolute path of a file of the package, given relative to its root. */
export const packageFile = (relative: string): string => path.join(root, relative)

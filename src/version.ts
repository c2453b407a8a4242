/** The package version, read once from the package's package.json. */
import { readFileSync } from "node:fs"
import { packageFile } from "./package-root.js"

const manifest: unknown = JSON.parse(readFileSync(packageFile("package.json"), "utf8"))

export const version: string =
  typeof manifest === "object" &&
  manifest !== null &&
  "version" in manifest &&
  typeof manifest.version === "string"
    ? manifest.version
    : "0.0.0"

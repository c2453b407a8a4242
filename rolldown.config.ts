/**
 * Bundles the driver binary: src/main.ts → dist/main.js, with the packages it uses
 * in dist/main/<package>.js. Loading the module graph as it is on disk costs ~70 MiB
 * more resident memory and ~1 s more start-up, mostly @kubernetes/client-node (its
 * entry loads every API and model class) and the effect barrel; bundled, only what
 * the driver uses is loaded. tsc still emits the rest of dist/ (the `./testing`
 * export and the demo), which use the packages unbundled.
 */
import { defineConfig } from "rolldown"

/** The package a module belongs to, e.g. "@grpc-grpc-js"; undefined for our sources. */
const packageOf = (id: string): string | undefined =>
  /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(id)?.[1]?.replace("/", "-")

export default defineConfig({
  input: { main: "src/main.ts" },
  platform: "node",
  // Our sources import each other as `./x.js` (NodeNext); the files are `x.ts`.
  resolve: { extensionAlias: { ".js": [".ts", ".js"] } },
  output: {
    dir: "dist",
    format: "esm",
    sourcemap: true,
    chunkFileNames: "main/[name].js",
    // One file per package rather than one ~6 MB file: V8 parses a script in one go,
    // and the peak of parsing the single file stays in malloc's arenas (~20 MiB more).
    codeSplitting: { groups: [{ debugName: "packages", name: (id) => packageOf(id) ?? null }] },
    // V8 keeps each script's source in memory, at two bytes a character as soon as one
    // is not ASCII: escaping non-ASCII and dropping comments halve it.
    charset: "ascii",
    comments: false,
  },
})

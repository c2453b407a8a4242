/**
 * Bundles the driver binary: src/main.ts → dist/main.js, with the packages it uses
 * in dist/main/<package>.js. Loading the module graph as it is on disk costs ~70 MiB
 * more resident memory and ~1 s more start-up, mostly @kubernetes/client-node (its
 * entry loads every API and model class) and the effect barrel; bundled, only what
 * the driver uses is loaded. tsc still emits the rest of dist/ (the `./testing`
 * export and the demo), which use the packages unbundled.
 */
import { createRequire } from "node:module"
import { defineConfig, type Plugin } from "rolldown"

/** The package a module belongs to, e.g. "@grpc-grpc-js"; undefined for our sources. */
const packageOf = (id: string): string | undefined =>
  /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(id)?.[1]?.replace("/", "-")

/**
 * Imports `node:http` through `require`. Node builds a builtin's ESM namespace by reading
 * every export, and node:http's WebSocket, CloseEvent and MessageEvent are lazy getters
 * that load Node's own bundled undici (~750 kB of source, compiled): an ESM import of
 * node:http alone costs ~10 MiB resident. `require` reads no export it is not asked for.
 * The driver's own undici (an npm dependency) is a different copy and is not affected.
 */
const httpViaRequire = (): Plugin => {
  const id = "\0node-http-via-require"
  const http = createRequire(import.meta.url)("node:http") as object
  // Accessors (the lazy getters among them) are left out: reading one is what loads undici.
  const names = Object.entries(Object.getOwnPropertyDescriptors(http))
    .filter(([, descriptor]) => "value" in descriptor)
    .map(([name]) => name)
  return {
    name: "node-http-via-require",
    resolveId: (source, _importer, options) =>
      (source === "node:http" || source === "http") && options.kind === "import-statement" ? id : null,
    load: (loaded) =>
      loaded !== id
        ? null
        : [
            `import { createRequire } from "node:module"`,
            `const http = createRequire(import.meta.url)("node:http")`,
            "export default http",
            `export const { ${names.join(", ")} } = http`,
          ].join("\n"),
  }
}

/**
 * undici's entry (CommonJS, so loaded whole) sets up fetch, WebSocket, EventSource, its
 * caches and mocks at load; the driver needs only its dispatchers, for client-node's
 * KubeConfig and our own requests. Static imports of `undici` get those (the same modules
 * the entry would give) and a `fetch` that loads the entry, in a chunk of its own, on the
 * first call: client-node's generated API and Watch call it, the driver never does.
 */
const undiciDispatchersOnly = (): Plugin => {
  const id = "\0undici-dispatchers-only"
  return {
    name: "undici-dispatchers-only",
    // Only client-node's and ours: anything else that imports undici keeps the whole of it.
    resolveId: (source, importer, options) =>
      source === "undici" &&
      options.kind === "import-statement" &&
      importer !== undefined &&
      (/node_modules\/@kubernetes\/client-node\//.test(importer) || !importer.includes("node_modules"))
        ? id
        : null,
    load: (loaded) =>
      loaded !== id
        ? null
        : [
            `import Agent from "undici/lib/dispatcher/agent.js"`,
            `import ProxyAgent from "undici/lib/dispatcher/proxy-agent.js"`,
            `import dispatchers from "undici/lib/global.js"`,
            "export { Agent, ProxyAgent }",
            "export const { getGlobalDispatcher, setGlobalDispatcher } = dispatchers",
            `export const fetch = async (...args) => (await import("undici")).fetch(...args)`,
          ].join("\n"),
  }
}

export default defineConfig({
  input: { main: "src/main.ts" },
  plugins: [httpViaRequire(), undiciDispatchersOnly()],
  platform: "node",
  treeshake: {
    // client-node's config module imports its generated index, which re-exports ~60 API and
    // ~700 model classes; the package declares no `sideEffects`, so all of them would be kept
    // (and ~3 MiB of the driver's heap with them), though the driver uses none. That code is
    // declarations only: what nothing imports may go. Elsewhere, each package's own word.
    moduleSideEffects: (id) =>
      /node_modules\/@kubernetes\/client-node\/dist\//.test(id) ? false : undefined,
  },
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
    // is not ASCII: escaping non-ASCII and dropping comments halve it. Minified, the
    // sources are 5.3 → 3.1 MB and the driver at rest 2.4 MiB smaller; names are kept, so
    // stack traces and error names still read (positions map back through the .map files).
    charset: "ascii",
    comments: false,
    minify: { compress: true, mangle: { keepNames: true }, codegen: { removeWhitespace: true } },
  },
})

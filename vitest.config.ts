import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // e2e files start driver processes and API servers; isolate them in forks
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})

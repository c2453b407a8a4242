/**
 * Makes sure --data-root is a tmpfs before any volume is written there, so key
 * material only ever lives in memory. An existing tmpfs (a restart) is reused.
 */
import { Effect, Layer } from "effect"
import { Config } from "../config.js"
import { Mounter } from "./mounter.js"

export const DataRoot = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* Config
    const mounter = yield* Mounter
    yield* mounter.ensureTmpfs(config.dataRoot)
  }),
)

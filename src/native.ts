/**
 * Loading the driver's native helpers (native/*.c, built by `npm run native` into
 * build/Release/): each is optional, so a helper that does not load is a reason to
 * log and fall back, never a crash.
 */
import { Result } from "effect"
import { packageFile } from "./package-root.js"

/** Where `npm run native` puts the helper built from native/<name>.c. */
export const nativeHelperPath = (name: string): string => packageFile(`build/Release/${name}.node`)

/**
 * The helper at `path` when it exports a function under each of `functions`, or why
 * it did not load (not built, built for another platform, not that helper).
 */
export const loadNativeHelper = <A>(
  path: string,
  functions: ReadonlyArray<keyof A & string>,
  what: string,
): Result.Result<A, string> => {
  const module = { exports: {} as unknown }
  try {
    process.dlopen(module, path)
  } catch (cause) {
    return Result.fail(cause instanceof Error ? cause.message : String(cause))
  }
  const exports = module.exports
  const complete =
    typeof exports === "object" &&
    exports !== null &&
    functions.every((name) => typeof (exports as Record<string, unknown>)[name] === "function")
  return complete ? Result.succeed(exports as A) : Result.fail(`${path} is not the ${what}`)
}

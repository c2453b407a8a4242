/**
 * Java's keytool, for the tests that check our PKCS#12 keystores open in Java, the main
 * reader of PKCS#12 (Debian's openjdk-17-jre-headless ships it). Tests skip when absent.
 */
import { spawnSync } from "node:child_process"

export interface KeytoolResult {
  readonly status: number | null
  /** stdout and stderr together: keytool prints its errors on either. */
  readonly output: string
}

const run = (args: ReadonlyArray<string>): KeytoolResult => {
  const r = spawnSync("keytool", args, { encoding: "utf8", timeout: 60_000 })
  return { status: r.error === undefined ? r.status : null, output: `${r.stdout ?? ""}${r.stderr ?? ""}` }
}

export const hasKeytool: boolean = run(["-help"]).status === 0

export const whyNoKeytool =
  "keytool is not on PATH: skipping the Java keystore checks (apt-get install openjdk-17-jre-headless)"

/** `keytool -list -v` of a PKCS#12 file with its password: what Java sees when it loads it. */
export const listKeystore = (file: string, password: string): KeytoolResult =>
  run(["-list", "-v", "-keystore", file, "-storetype", "PKCS12", "-storepass", password])

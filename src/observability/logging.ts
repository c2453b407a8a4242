/**
 * Log output for the driver: JSON lines by default (`--log-format text` gives
 * logfmt for humans), on stderr like klog's, filtered by `--log-level`. Keys,
 * tokens and passwords are carried as Redacted values, which print as <redacted>.
 */
import { Layer, Logger, References } from "effect"
import type { DriverConfig } from "../config.js"
import { formatJson } from "./json-log.js"

export const loggingLayer = (config: Pick<DriverConfig, "logFormat" | "logLevel">) =>
  Layer.mergeAll(
    Logger.layer([Logger.withConsoleError(config.logFormat === "json" ? formatJson : Logger.formatLogFmt)]),
    Layer.succeed(References.MinimumLogLevel, config.logLevel),
  )

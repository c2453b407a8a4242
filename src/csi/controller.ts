/**
 * The CSI Controller service exists only so conformance tools can ask for its
 * capabilities: the list is empty, and every other method answers UNIMPLEMENTED
 * (grpc-js does that for methods the proto subset leaves out).
 */
import { Effect } from "effect"
import type { ControllerHandlers } from "../gen/csi/v1/Controller.js"
import { type Runner, unary } from "./bridge.js"

export const controllerHandlers = (run: Runner) =>
  ({
    ControllerGetCapabilities: unary(run, "ControllerGetCapabilities", () =>
      Effect.succeed({ capabilities: [] }),
    ),
  }) satisfies ControllerHandlers

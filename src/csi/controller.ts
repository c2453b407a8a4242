/**
 * The CSI Controller service exists only so conformance tools can ask for its
 * capabilities, and every other method answers UNIMPLEMENTED (grpc-js does that for
 * methods the proto subset leaves out). csi-sanity calls ControllerGetCapabilities
 * before every node spec and rejects an empty list, so a node-only driver answers
 * with one capability of type UNKNOWN: "nothing", in a form the list can hold.
 */
import { Effect } from "effect"
import type { ControllerHandlers } from "../gen/csi/v1/Controller.js"
import { type Runner, unary } from "./bridge.js"

export const controllerHandlers = (run: Runner) =>
  ({
    ControllerGetCapabilities: unary(run, "ControllerGetCapabilities", () =>
      Effect.succeed({ capabilities: [{ rpc: { type: "UNKNOWN" as const } }] }),
    ),
  }) satisfies ControllerHandlers

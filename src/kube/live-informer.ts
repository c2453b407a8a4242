/**
 * An informer over the API server: one resource's list and watch through the driver's
 * client (rate limited, counted), narrowed by a label or field selector, with a
 * readiness check registered so /readyz says when it is not in sync.
 */
import { Effect } from "effect"
import { Health } from "../observability/health.js"
import { apiErrorOf, KubeClient } from "./client.js"
import { type InformerKind, listResultOf, makeObjectInformer, type Named, watchStream } from "./informer.js"
import { openWatch } from "./watch-request.js"

export interface LiveInformerOptions<A extends Named> {
  readonly kind: InformerKind<A>
  /** The watch's path: `/api/v1/pods`, `/apis/<group>/<version>/<resource>`. */
  readonly path: string
  /** Narrows both the list and the watch. */
  readonly selector: { readonly labelSelector: string } | { readonly fieldSelector: string }
  /** Name of the readiness check. */
  readonly check: string
}

export const makeLiveInformer = <A extends Named>(options: LiveInformerOptions<A>) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const health = yield* Health
    const resource = options.kind.resource
    const informer = yield* makeObjectInformer(
      {
        list: kube
          .call("list", resource, () =>
            kube.driver.json("GET", `${options.path}?${new URLSearchParams(options.selector)}`),
          )
          .pipe(Effect.map(listResultOf)),
        watch: (resourceVersion, apply) =>
          watchStream(
            (onEvent, onDone) =>
              openWatch(
                kube.kubeConfig,
                options.path,
                { ...options.selector, resourceVersion, allowWatchBookmarks: true },
                onEvent,
                onDone,
              ),
            (cause) => apiErrorOf("watch", resource, cause),
            apply,
          ),
      },
      options.kind,
    )
    yield* health.register({
      name: options.check,
      kind: "readiness",
      run: Effect.flatMap(informer.synced, (ok) =>
        ok ? Effect.void : Effect.fail("not synced with the API server (list or watch failing)"),
      ),
    })
    return informer
  })

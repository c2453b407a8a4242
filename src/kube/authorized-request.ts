/**
 * Where and how one plain request to the API server goes, as client-node's generated API
 * would send it: the cluster's URL, the identity's headers (client-node's authenticators,
 * per request, so a rotating token is read again) and the connection pool the kubeconfig
 * gives (PooledKubeConfig's), else undici's global one, as client-node leaves it.
 */
import { HttpMethod, type KubeConfig, RequestContext } from "@kubernetes/client-node"
import { type Dispatcher, getGlobalDispatcher } from "undici"

export interface AuthorizedRequest {
  readonly dispatcher: Dispatcher
  readonly origin: string
  /** Path and query, below the origin. */
  readonly path: string
  readonly headers: Record<string, string>
}

/** The methods the driver's plain requests use. */
export type ApiMethod = "GET" | "POST" | "PATCH" | "DELETE"

export const authorizedRequest = async (
  kubeConfig: KubeConfig,
  method: ApiMethod,
  url: URL,
): Promise<AuthorizedRequest> => {
  const context = new RequestContext(url.toString(), HttpMethod[method])
  await kubeConfig.applySecurityAuthentication(context)
  const target = new URL(context.getUrl())
  return {
    dispatcher: context.getDispatcher() ?? getGlobalDispatcher(),
    origin: target.origin,
    path: `${target.pathname}${target.search}`,
    headers: context.getHeaders(),
  }
}

/** The URL of `path` (and its query) on the kubeconfig's current cluster. */
export const clusterUrl = (kubeConfig: KubeConfig, path: string): URL => {
  const cluster = kubeConfig.getCurrentCluster()
  // The thin adapter's throw: loadKubeConfig refuses a kubeconfig without a current cluster.
  if (cluster === null) throw new Error("the kubeconfig names no current cluster")
  return new URL(cluster.server + path)
}

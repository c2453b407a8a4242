/**
 * The plain requests (`ApiRequests.json`) against a plain HTTP server: the answer as
 * parsed JSON, with the query as given; what is refused rather than held or quoted (an
 * answer past the size limit, a body that is not JSON); and an error's body kept only
 * as far as its Status needs.
 */
import type * as http from "node:http"
import { ApiException } from "@kubernetes/client-node"
import { Effect, Layer, ManagedRuntime } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { Config } from "../../src/config.js"
import { KubeClient, maxErrorBodyBytes } from "../../src/kube/client.js"
import { closePlainServers, servePlain } from "../support/plain-api-server.js"
import { testConfig } from "../volume/programs-support.js"

const runtimes: Array<ManagedRuntime.ManagedRuntime<KubeClient, unknown>> = []
afterEach(async () => {
  for (const runtime of runtimes.splice(0)) await runtime.dispose()
  await closePlainServers()
})

/** A client of a server that answers with `handler`; `seen` collects the requested URLs. */
const clientOf = async (handler: http.RequestListener, maxAnswerBytes?: number) => {
  const seen: Array<string> = []
  const kubeConfig = await servePlain((request, response) => {
    seen.push(request.url ?? "")
    handler(request, response)
  })
  const runtime = ManagedRuntime.make(
    KubeClient.fromKubeConfig(kubeConfig, maxAnswerBytes === undefined ? {} : { maxAnswerBytes }).pipe(
      Layer.provide(Config.layer(testConfig())),
    ),
  )
  runtimes.push(runtime)
  const kube = await runtime.runPromise(KubeClient.use((service) => Effect.succeed(service)))
  const answer = (path: string) => kube.driver.json("GET", path)
  const json = (path: string) =>
    answer(path).then(
      () => {
        throw new Error("expected the request to fail")
      },
      (cause: unknown) => cause,
    )
  return { seen, json, answer }
}

describe("ApiRequests.json", () => {
  it("resolves with the parsed answer, the path and query sent as given", async () => {
    const client = await clientOf((_request, response) => {
      response.setHeader("content-type", "application/json")
      response.end(
        JSON.stringify({ items: [{ metadata: { name: "a" } }], metadata: { resourceVersion: "7" } }),
      )
    })
    expect(await client.answer("/api/v1/pods?fieldSelector=spec.nodeName%3Dn")).toEqual({
      items: [{ metadata: { name: "a" } }],
      metadata: { resourceVersion: "7" },
    })
    expect(client.seen).toEqual(["/api/v1/pods?fieldSelector=spec.nodeName%3Dn"])
  })

  it("reads an answer of many chunks within the limit whole", async () => {
    const items = Array.from({ length: 20_000 }, (_, i) => ({
      metadata: { name: `pod-${i}`, padding: "x".repeat(200) },
    }))
    const client = await clientOf((_request, response) => response.end(JSON.stringify({ items })))
    expect(await client.answer("/api/v1/pods")).toEqual({ items })
  })

  it("refuses an answer past the size limit instead of holding it", async () => {
    const client = await clientOf((_request, response) => {
      const chunk = Buffer.alloc(64 * 1024, 0x20)
      let sent = 0
      // 4 MiB in 64 KiB chunks, each written once, waiting for the socket to drain.
      const more = (): void => {
        while (sent < 64) {
          sent += 1
          if (!response.write(chunk)) {
            response.once("drain", more)
            return
          }
        }
        response.end()
      }
      more()
    }, 1024 * 1024)
    const error = await client.json("/apis/cert-manager.io/v1/certificaterequests?labelSelector=x")
    expect(String(error)).toContain(
      "the API server's answer to GET /apis/cert-manager.io/v1/certificaterequests exceeds 1048576 bytes",
    )
  })

  it("refuses a body that is not JSON without quoting it", async () => {
    const client = await clientOf((_request, response) => response.end("s3cr3t-looking garbage"))
    const error = await client.json("/api/v1/pods?fieldSelector=x")
    expect(String(error)).toContain("the API server answered GET /api/v1/pods with a body that is not JSON")
    expect(String(error)).not.toContain("s3cr3t")
  })

  it("keeps only the start of an error's body, where its Status is", async () => {
    const status = JSON.stringify({
      kind: "Status",
      reason: "Forbidden",
      message: "no",
      padding: "x".repeat(1 << 20),
    })
    const client = await clientOf((_request, response) => {
      response.statusCode = 403
      response.end(status)
    })
    const error = await client.json("/api/v1/pods")
    expect(error).toBeInstanceOf(ApiException)
    const body = (error as ApiException<string>).body
    expect(body.length).toBe(maxErrorBodyBytes)
    expect(body.startsWith('{"kind":"Status","reason":"Forbidden"')).toBe(true)
  })
})

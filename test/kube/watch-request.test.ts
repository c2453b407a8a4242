/**
 * The watch transport against a plain HTTP server that answers as the API server's
 * watch does: JSON lines split anywhere across chunks, the request as client-node's
 * Watch sends it, a refusal by status, the end of the stream, silence, and garbage.
 */
import type * as http from "node:http"
import type { KubeConfig } from "@kubernetes/client-node"
import { afterEach, assert, describe, it } from "vitest"
import { apiErrorOf } from "../../src/kube/client.js"
import { openWatch, WatchRefused } from "../../src/kube/watch-request.js"
import { closePlainServers, servePlain } from "../support/plain-api-server.js"

interface Outcome {
  readonly events: Array<[string, unknown]>
  readonly done: Promise<unknown>
  readonly controller: AbortController
}

afterEach(closePlainServers)

const watch = async (kubeConfig: KubeConfig, silenceMs?: number): Promise<Outcome> => {
  const events: Array<[string, unknown]> = []
  let settle: (error: unknown) => void = () => {}
  const done = new Promise<unknown>((resolve) => {
    settle = resolve
  })
  const controller = await openWatch(
    kubeConfig,
    "/api/v1/pods",
    { fieldSelector: "spec.nodeName=n", resourceVersion: "7", allowWatchBookmarks: true, absent: undefined },
    (type, object) => events.push([type, object]),
    settle,
    silenceMs,
  )
  return { events, done, controller }
}

const line = (type: string, name: string) => `${JSON.stringify({ type, object: { metadata: { name } } })}\n`

describe("openWatch", () => {
  it("sends client-node's request and delivers events split anywhere across chunks", async () => {
    let seen: http.IncomingMessage | undefined
    const kubeConfig = await servePlain((req, res) => {
      seen = req
      res.writeHead(200, { "content-type": "application/json" })
      const text = [line("ADDED", "a"), line("MODIFIED", "a"), "\n", line("DELETED", "b")].join("")
      // Byte by byte for the first 40 characters, then 17 at a time; a blank line between events.
      let at = 0
      const step = () => {
        if (at >= text.length) return res.end()
        const size = at < 40 ? 1 : 17
        res.write(text.slice(at, at + size))
        at += size
        setImmediate(step)
      }
      step()
    })
    const outcome = await watch(kubeConfig)
    assert.strictEqual(await outcome.done, null)
    assert.deepStrictEqual(outcome.events, [
      ["ADDED", { metadata: { name: "a" } }],
      ["MODIFIED", { metadata: { name: "a" } }],
      ["DELETED", { metadata: { name: "b" } }],
    ])
    const url = new URL(seen?.url ?? "", "http://x")
    assert.strictEqual(url.pathname, "/api/v1/pods")
    assert.deepStrictEqual(Object.fromEntries(url.searchParams), {
      watch: "true",
      fieldSelector: "spec.nodeName=n",
      resourceVersion: "7",
      allowWatchBookmarks: "true",
    })
    assert.strictEqual(seen?.headers.authorization, "Bearer t0ken")
  })

  it("decodes UTF-8 split anywhere, even inside a character", async () => {
    const kubeConfig = await servePlain((_req, res) => {
      res.writeHead(200)
      const bytes = Buffer.from(`${line("ADDED", "zürich-日本-😀")}${line("MODIFIED", "ß")}`)
      let at = 0
      const step = () => {
        if (at >= bytes.length) return res.end()
        res.write(bytes.subarray(at, at + 1))
        at += 1
        setImmediate(step)
      }
      step()
    })
    const outcome = await watch(kubeConfig)
    assert.strictEqual(await outcome.done, null)
    assert.deepStrictEqual(outcome.events, [
      ["ADDED", { metadata: { name: "zürich-日本-😀" } }],
      ["MODIFIED", { metadata: { name: "ß" } }],
    ])
  })

  it("skips lines that are not events, as client-node does", async () => {
    const kubeConfig = await servePlain((_req, res) => {
      res.writeHead(200)
      res.end(`not json\n{"no":"type"}\n[1]\n${line("ADDED", "ok")}`)
    })
    const outcome = await watch(kubeConfig)
    assert.strictEqual(await outcome.done, null)
    assert.deepStrictEqual(outcome.events, [["ADDED", { metadata: { name: "ok" } }]])
  })

  it("ends with the status of a refusal, which the error mapping reads", async () => {
    const kubeConfig = await servePlain((_req, res) => {
      res.writeHead(403, { "content-type": "application/json" })
      res.end(JSON.stringify({ kind: "Status", reason: "Forbidden" }))
    })
    const outcome = await watch(kubeConfig)
    const error = await outcome.done
    assert.instanceOf(error, WatchRefused)
    assert.strictEqual((error as WatchRefused).statusCode, 403)
    const failure = apiErrorOf("watch", "pods", error)
    assert.strictEqual(failure.status, 403)
    assert.strictEqual(failure.reason, "Forbidden")
    assert.deepStrictEqual(outcome.events, [])
  })

  it("ends a watch that stays silent, but not one that keeps talking", async () => {
    const kubeConfig = await servePlain((_req, res) => {
      res.writeHead(200)
      let sent = 0
      const tick = setInterval(() => {
        if (sent === 4) return clearInterval(tick)
        res.write(line("BOOKMARK", `${sent++}`))
      }, 60)
      res.on("close", () => clearInterval(tick))
    })
    const started = performance.now()
    const outcome = await watch(kubeConfig, 150)
    const error = await outcome.done
    const took = performance.now() - started
    assert.instanceOf(error, DOMException)
    assert.strictEqual(outcome.events.length, 4)
    // Four events 60 ms apart kept it open; the silence after the last one ended it.
    assert.isAtLeast(took, 240 + 150 - 20)
  })

  it("ends when the caller aborts, with nothing delivered afterwards", async () => {
    const kubeConfig = await servePlain((_req, res) => {
      res.writeHead(200)
      res.write(line("ADDED", "a"))
    })
    const outcome = await watch(kubeConfig)
    while (outcome.events.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    outcome.controller.abort()
    assert.isNotNull(await outcome.done)
    assert.strictEqual(outcome.events.length, 1)
  })

  it("ends with an error when the server is unreachable", async () => {
    const kubeConfig = await servePlain((req) => req.socket.destroy())
    const outcome = await watch(kubeConfig)
    assert.instanceOf(await outcome.done, Error)
  })
})

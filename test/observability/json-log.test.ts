import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Effect, Logger, Redacted, Schema } from "effect"
import { TestConsole } from "effect/testing"
import { formatJson, plainJsonLine } from "../../src/observability/json-log.js"
import { loggingLayer } from "../../src/observability/logging.js"

interface Line {
  readonly effect: string
  readonly ours: string
  readonly plain: boolean
}

/** Logs once with both formatters on the same event, and says which path ours took. */
const logBoth = (
  messages: ReadonlyArray<unknown>,
  annotations: Readonly<Record<string, unknown>> = {},
  spans: ReadonlyArray<string> = [],
): Line => {
  const lines: Array<Line> = []
  const both = Logger.make((options: Logger.Options<unknown>) => {
    lines.push({
      effect: Logger.formatJson.log(options),
      ours: formatJson.log(options),
      plain: plainJsonLine(options) !== undefined,
    })
  })
  let program: Effect.Effect<void> = Effect.logInfo(...messages).pipe(Effect.annotateLogs(annotations))
  for (const label of spans) program = program.pipe(Effect.withLogSpan(label))
  Effect.runSync(program.pipe(Effect.provide(Logger.layer([both]))))
  expect(lines).toHaveLength(1)
  return lines[0]!
}

const same = (
  messages: ReadonlyArray<unknown>,
  annotations?: Record<string, unknown>,
  spans?: ReadonlyArray<string>,
) => {
  const line = logBoth(messages, annotations, spans)
  expect(line.ours).toBe(line.effect)
  return line
}

// JSON-ish values with Redacted, bigint and undefined sprinkled in, at any depth.
type Value =
  | string
  | number
  | boolean
  | null
  | undefined
  | bigint
  | Redacted.Redacted<string>
  | ReadonlyArray<Value>
  | { readonly [key: string]: Value }
const Value: Schema.Codec<Value> = Schema.Union([
  Schema.String,
  Schema.Number,
  Schema.Boolean,
  Schema.Null,
  Schema.Undefined,
  Schema.BigInt,
  Schema.Redacted(Schema.String),
  Schema.Array(Schema.suspend((): Schema.Codec<Value> => Value)),
  Schema.Record(
    Schema.String,
    Schema.suspend((): Schema.Codec<Value> => Value),
  ),
])
const Plain = Schema.Union([Schema.String, Schema.Number, Schema.Boolean, Schema.Null, Schema.Undefined])

describe("formatJson", () => {
  it.prop(
    "gives Effect's line for any messages, annotations and spans",
    {
      messages: Schema.Array(Value),
      annotations: Schema.Record(Schema.String, Value),
      spans: Schema.Array(Schema.String),
    },
    ({ messages, annotations, spans }) => {
      same(messages, annotations, spans)
    },
    { arbitrary: { runs: 500 } },
  )

  it.prop(
    "renders lines of plain values itself, as Effect does",
    { messages: Schema.Array(Plain), annotations: Schema.Record(Schema.String, Plain) },
    ({ messages, annotations }) => {
      expect(same(messages, annotations).plain).toBe(true)
    },
  )

  it("matches Effect on the driver's lines and on edge cases", () => {
    const lines = [
      same(["volume published"], { volumeId: "csi-0123", pod: "default/p" }),
      same(["gRPC call"], { method: "NodePublishVolume", code: "OK", durationMs: 12 }),
      same([]),
      same([undefined]),
      same([undefined, null, 1]),
      same([Number.NaN, Number.POSITIVE_INFINITY, -0, 1e21, 5e-324]),
      same(['é ☃ 😀 \u0000\u0001\u001f\u007f\u2028\u2029 \ud800 "quoted" back\\slash\nnew\tline']),
      same(["x".repeat(100_000)], { long: "y".repeat(50_000) }),
      same(["a", "b"], { n: undefined, "2": "two", "1": "one", __proto__x: "p", "": "empty" }),
      same(["spans"], {}, ["outer", "2", "1", "same", "same", "__proto__", 'we"ird =label']),
    ]
    for (const line of lines) expect(line.plain).toBe(true)
    // A "__proto__" annotation is an own key too.
    const proto: Record<string, unknown> = {}
    Object.defineProperty(proto, "__proto__", {
      value: "p",
      enumerable: true,
      writable: true,
      configurable: true,
    })
    expect(same(["proto"], proto).ours).toContain('"__proto__":"p"')
  })

  it("leaves objects, errors, causes, bigint and circular values to Effect's formatter", () => {
    class Failed extends Data.TaggedError("Failed")<{ readonly reason: string }> {}
    const circular: Record<string, unknown> = { a: 1 }
    circular.self = circular
    const withGetter = {
      get secret() {
        return Redacted.make("getter-secret")
      },
    }
    const cases: Array<[ReadonlyArray<unknown>, Record<string, unknown>?]> = [
      [[{ a: 1, b: [1, "two"] }]],
      [[[1, 2, 3]]],
      [[new Error("boom")]],
      [[new Error("outer", { cause: new Error("inner") })]],
      [[new Failed({ reason: "why" })]],
      [["with cause", Cause.fail(new Failed({ reason: "failed" }))]],
      [["with defect", Cause.die(new Error("defect"))]],
      [[12n], { big: 34n }],
      [[circular], { circular }],
      [[withGetter]],
      [[new Date(0)], { date: new Date(0) }],
      [[new Map([["k", 1]])]],
      [[Symbol("s"), () => 1]],
      [["msg"], { nested: { list: [1, { deep: "x" }] } }],
    ]
    for (const [messages, annotations] of cases) expect(same(messages, annotations).plain).toBe(false)
  })

  it("never prints a Redacted value, at the top or nested", () => {
    const secret = (n: number) => `s3cr3t-${n}-do-not-print`
    const line = same([Redacted.make(secret(1)), { key: Redacted.make(secret(2)) }], {
      token: Redacted.make(secret(3)),
      nested: { password: Redacted.make(secret(4)), list: [Redacted.make(secret(5))] },
    })
    expect(line.plain).toBe(false)
    expect(line.ours).not.toContain("s3cr3t")
    expect(line.ours).toContain("<redacted>")
  })
})

describe("loggingLayer", () => {
  it.effect("writes JSON lines with console.error, filtered by the level", () =>
    Effect.gen(function* () {
      const effectLines: Array<string> = []
      const record = Logger.make((options: Logger.Options<unknown>) => {
        effectLines.push(Logger.formatJson.log(options))
      })
      yield* Effect.gen(function* () {
        yield* Effect.logDebug("hidden")
        yield* Effect.logInfo("volume published").pipe(Effect.annotateLogs({ volumeId: "v" }))
        yield* Effect.logWarning("with a secret", { token: Redacted.make("s3cr3t") })
      }).pipe(
        // Effect's own formatter beside the driver's, on the same events.
        Effect.provide(Logger.layer([record], { mergeWithExisting: true })),
        Effect.provide(loggingLayer({ logFormat: "json", logLevel: "Info" })),
      )
      const lines = yield* TestConsole.errorLines
      expect(lines).toEqual(effectLines)
      expect(lines).toHaveLength(2)
      expect(String(lines[1])).not.toContain("s3cr3t")
    }).pipe(Effect.provide(TestConsole.layer)),
  )
})

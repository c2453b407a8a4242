/**
 * The one error of attribute decoding: every problem of a volume's attributes at
 * once, each naming the attribute and saying what would be valid. Its message is
 * shown to users as a pod event, so it is bounded: the problems that fit in 2 KiB,
 * then how many more there are.
 */
import { Schema } from "effect"
import { joinWithin, named } from "../bounded.js"

export const AttributeProblem = Schema.Struct({
  /** The attribute key (or `volume_mount_group`, or `volumeAttributes` for the request as a whole). */
  attribute: Schema.String,
  /** What is wrong and what to write instead; never contains the pkcs12-password. */
  message: Schema.String,
})
export type AttributeProblem = typeof AttributeProblem.Type

export class InvalidAttributes extends Schema.TaggedError<InvalidAttributes>()("InvalidAttributes", {
  problems: Schema.Array(AttributeProblem),
  /** Problems found but not kept (unknown keys past the first few): counted, not held. */
  more: Schema.optionalKey(Schema.Number),
}) {
  /** One line per problem, `<attribute>: <message>`, within 2 KiB; then "and N more problems". */
  override get message(): string {
    return joinWithin(
      this.problems.map((p) => `${named(p.attribute)}: ${p.message}`),
      { separator: "\n", noun: "problem", total: this.problems.length + (this.more ?? 0) },
    )
  }
}

/**
 * The one error of attribute decoding: every problem of a volume's attributes at
 * once, each naming the attribute and saying what would be valid. Its message is
 * shown to users as a pod event.
 */
import { Schema } from "effect"

export const AttributeProblem = Schema.Struct({
  /** The attribute key (or `volume_mount_group`, or `volumeAttributes` for the request as a whole). */
  attribute: Schema.String,
  /** What is wrong and what to write instead; never contains the pkcs12-password. */
  message: Schema.String,
})
export type AttributeProblem = typeof AttributeProblem.Type

export class InvalidAttributes extends Schema.TaggedError<InvalidAttributes>()("InvalidAttributes", {
  problems: Schema.Array(AttributeProblem),
}) {
  /** One line per problem: `<attribute>: <message>`. */
  override get message(): string {
    return this.problems.map((p) => `${p.attribute}: ${p.message}`).join("\n")
  }
}

/** Errors the CSI edge raises itself. */
import { Schema } from "effect"

export class Unimplemented extends Schema.TaggedError<Unimplemented>()("Unimplemented", {
  method: Schema.String,
}) {
  override get message(): string {
    return `${this.method} is not implemented: this driver serves inline ephemeral volumes only`
  }
}

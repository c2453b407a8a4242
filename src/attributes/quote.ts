/**
 * Quoting of user-supplied text for problem messages: JSON-quoted and cut (a long
 * value shows its start and its length). A value that contains the volume's
 * pkcs12-password is never shown, whichever attribute it was given for.
 */
import { quoted } from "../bounded.js"

/** Shows `value` JSON-quoted and cut, or a placeholder when it contains the secret. */
export type Quote = (value: string) => string

export const makeQuote =
  (secret: string | undefined): Quote =>
  (value) =>
    secret !== undefined && secret !== "" && value.includes(secret)
      ? "(a value that contains the pkcs12-password, not shown)"
      : quoted(value)

/**
 * Quoting of user-supplied text for problem messages. A value that contains the
 * volume's pkcs12-password is never shown, whichever attribute it was given for.
 */

/** Shows `value` JSON-quoted, or a placeholder when it contains the secret. */
export type Quote = (value: string) => string

export const makeQuote =
  (secret: string | undefined): Quote =>
  (value) =>
    secret !== undefined && secret !== "" && value.includes(secret)
      ? "(a value that contains the pkcs12-password, not shown)"
      : JSON.stringify(value)

/**
 * Bearer-token authentication: a table token → user, as a static token file or the
 * service-account token authenticator gives the apiserver. Service-account tokens are
 * JWT-shaped (clients that peek at `exp` work) but are checked only against the table.
 */
import { createHash, createHmac, randomBytes } from "node:crypto"
import { Clock, Context, Effect, Layer, Option, Redacted } from "effect"

export interface UserInfo {
  readonly username: string
  readonly uid: string
  readonly groups: ReadonlyArray<string>
  readonly extra?: Readonly<Record<string, ReadonlyArray<string>>>
}

export interface NewUser {
  readonly username: string
  readonly uid?: string
  readonly groups?: ReadonlyArray<string>
  readonly extra?: Readonly<Record<string, ReadonlyArray<string>>>
}

export interface ServiceAccountTokenOptions {
  /** Token lifetime; the server answers 401 once it has passed. Default one year. */
  readonly expirationSeconds?: number
  readonly audiences?: ReadonlyArray<string>
}

export class Users extends Context.Service<
  Users,
  {
    /** The user a bearer token belongs to, if the token is known and not expired. */
    readonly authenticate: (token: string) => Effect.Effect<Option.Option<UserInfo>>
    /** Adds (or replaces) a static token. */
    readonly add: (token: Redacted.Redacted<string> | string, user: NewUser) => Effect.Effect<void>
    /** Forgets a token: later requests with it get 401. */
    readonly revoke: (token: Redacted.Redacted<string> | string) => Effect.Effect<void>
    /** Mints a token for `system:serviceaccount:<namespace>:<name>`. */
    readonly serviceAccountToken: (
      namespace: string,
      name: string,
      options?: ServiceAccountTokenOptions,
    ) => Effect.Effect<Redacted.Redacted<string>>
  }
>()("csi/testing/Users") {
  static readonly make: Effect.Effect<Users["Service"]> = Effect.sync(() => makeTable())
  static readonly layer = Layer.effect(Users, Users.make)
}

interface Entry {
  readonly user: UserInfo
  readonly expiresAtMs?: number
}

const b64url = (data: string | Buffer): string => Buffer.from(data).toString("base64url")

/** A stable UUID-shaped id derived from a name, so a service account keeps its uid. */
export const stableUid = (seed: string): string => {
  const h = createHash("sha256").update(seed).digest("hex")
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
}

export const serviceAccountUser = (namespace: string, name: string): UserInfo => ({
  username: `system:serviceaccount:${namespace}:${name}`,
  uid: stableUid(`serviceaccount/${namespace}/${name}`),
  groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
})

const plain = (t: Redacted.Redacted<string> | string): string =>
  typeof t === "string" ? t : Redacted.value(t)

const makeTable = (): Users["Service"] => {
  const table = new Map<string, Entry>()
  const signingKey = randomBytes(32)

  const authenticate = (token: string) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const entry = table.get(token)
      if (entry === undefined) return Option.none()
      if (entry.expiresAtMs !== undefined && entry.expiresAtMs <= now) return Option.none()
      return Option.some(entry.user)
    })

  const add = (token: Redacted.Redacted<string> | string, user: NewUser) =>
    Effect.sync(() => {
      const groups = [...(user.groups ?? [])]
      if (!groups.includes("system:authenticated")) groups.push("system:authenticated")
      table.set(plain(token), {
        user: {
          username: user.username,
          uid: user.uid ?? "",
          groups,
          ...(user.extra === undefined ? {} : { extra: user.extra }),
        },
      })
    })

  const revoke = (token: Redacted.Redacted<string> | string) =>
    Effect.sync(() => void table.delete(plain(token)))

  const serviceAccountToken = (namespace: string, name: string, options?: ServiceAccountTokenOptions) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const user = serviceAccountUser(namespace, name)
      const iat = Math.floor(now / 1000)
      const exp = iat + (options?.expirationSeconds ?? 365 * 24 * 3600)
      const payload = {
        aud: options?.audiences ?? ["https://kubernetes.default.svc.cluster.local"],
        exp,
        iat,
        iss: "https://kubernetes.default.svc.cluster.local",
        jti: randomBytes(16).toString("hex"),
        "kubernetes.io": { namespace, serviceaccount: { name, uid: user.uid } },
        nbf: iat,
        sub: user.username,
      }
      const unsigned = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify(payload))}`
      const token = `${unsigned}.${createHmac("sha256", signingKey).update(unsigned).digest("base64url")}`
      table.set(token, { user, expiresAtMs: exp * 1000 })
      return Redacted.make(token)
    })

  return Users.of({ authenticate, add, revoke, serviceAccountToken })
}

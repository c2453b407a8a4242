/**
 * Results decoded lately, for decodings that are pure functions of their inputs: the
 * least recently used go first, bounded by count and by bytes (the caller's measure of
 * an entry), and an entry larger than `entryBytes` is not kept at all. Callers keep only
 * what decoded, so bad input neither grows nor churns it.
 */
export interface Limits {
  readonly entries: number
  readonly bytes: number
  readonly entryBytes: number
}

interface Entry<A> {
  readonly value: A
  readonly bytes: number
}

export class RecentlyDecoded<A> {
  readonly limits: Limits
  private readonly kept = new Map<string, Entry<A>>()
  private bytes = 0

  constructor(limits: Limits) {
    this.limits = limits
  }

  /** The entry kept for `key`, now the most recently used. */
  get(key: string): { readonly value: A } | undefined {
    const entry = this.kept.get(key)
    if (entry === undefined) return undefined
    this.kept.delete(key)
    this.kept.set(key, entry)
    return entry
  }

  /** Whether `key` is kept, without making it the most recently used. */
  has(key: string): boolean {
    return this.kept.has(key)
  }

  /** The entry kept for `key`, no longer kept. */
  take(key: string): { readonly value: A } | undefined {
    const entry = this.kept.get(key)
    if (entry !== undefined) this.delete(key)
    return entry
  }

  delete(key: string): void {
    const entry = this.kept.get(key)
    if (entry === undefined) return
    this.kept.delete(key)
    this.bytes -= entry.bytes
  }

  set(key: string, value: A, bytes: number): void {
    if (bytes > this.limits.entryBytes) return
    this.delete(key)
    for (const [oldest, entry] of this.kept) {
      if (this.kept.size < this.limits.entries && this.bytes + bytes <= this.limits.bytes) break
      this.kept.delete(oldest)
      this.bytes -= entry.bytes
    }
    this.kept.set(key, { value, bytes })
    this.bytes += bytes
  }

  /** What it holds now, for tests. */
  get size(): { readonly entries: number; readonly bytes: number } {
    return { entries: this.kept.size, bytes: this.bytes }
  }
}

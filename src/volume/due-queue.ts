/**
 * Keys by the time they fall due, earliest first: a binary min-heap over two parallel
 * arrays with each key's position indexed, so setting, moving and removing one key is
 * O(log n) and an idle key costs a map entry and two array slots — no timer, no fiber.
 * The node's renewal schedule is one of these with one fiber sleeping until its head.
 */
export class DueQueue {
  private readonly keys: Array<string> = []
  private readonly ats: Array<number> = []
  private readonly index = new Map<string, number>()

  get size(): number {
    return this.keys.length
  }

  has(key: string): boolean {
    return this.index.has(key)
  }

  /** When the key falls due (epoch ms), if it is queued. */
  at(key: string): number | undefined {
    const position = this.index.get(key)
    return position === undefined ? undefined : this.ats[position]
  }

  /** The earliest key and its time, if any. */
  peek(): { readonly key: string; readonly at: number } | undefined {
    const key = this.keys[0]
    const at = this.ats[0]
    return key === undefined || at === undefined ? undefined : { key, at }
  }

  /** Queues the key at `at`, or moves it there when it is queued already. */
  set(key: string, at: number): void {
    const position = this.index.get(key)
    if (position === undefined) {
      this.keys.push(key)
      this.ats.push(at)
      this.index.set(key, this.keys.length - 1)
      this.up(this.keys.length - 1)
      return
    }
    const before = this.ats[position] ?? at
    this.ats[position] = at
    if (at < before) this.up(position)
    else this.down(position)
  }

  /** Takes the key out; whether it was queued. */
  delete(key: string): boolean {
    const position = this.index.get(key)
    if (position === undefined) return false
    this.index.delete(key)
    const lastKey = this.keys.pop()
    const lastAt = this.ats.pop()
    if (position === this.keys.length || lastKey === undefined || lastAt === undefined) return true
    this.keys[position] = lastKey
    this.ats[position] = lastAt
    this.index.set(lastKey, position)
    this.up(position)
    this.down(this.index.get(lastKey) ?? position)
    return true
  }

  private less(i: number, j: number): boolean {
    return (this.ats[i] ?? 0) < (this.ats[j] ?? 0)
  }

  private swap(i: number, j: number): void {
    const key = this.keys[i] as string
    const other = this.keys[j] as string
    const at = this.ats[i] as number
    this.keys[i] = other
    this.keys[j] = key
    this.ats[i] = this.ats[j] as number
    this.ats[j] = at
    this.index.set(other, i)
    this.index.set(key, j)
  }

  private up(position: number): void {
    let child = position
    while (child > 0) {
      const parent = (child - 1) >> 1
      if (!this.less(child, parent)) return
      this.swap(child, parent)
      child = parent
    }
  }

  private down(position: number): void {
    let parent = position
    const size = this.keys.length
    while (true) {
      const left = parent * 2 + 1
      if (left >= size) return
      const right = left + 1
      const child = right < size && this.less(right, left) ? right : left
      if (!this.less(child, parent)) return
      this.swap(child, parent)
      parent = child
    }
  }
}

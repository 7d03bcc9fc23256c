/**
 * Values read from Postgres, kept in memory while a change feed says nothing changed. An entry
 * is only kept when no invalidation happened while it was being read (the epoch), so a read
 * racing a change never stores the old value after the change was announced. Undefined
 * (not found) is never kept: a row created a moment ago is found at once.
 */
export class ReadThroughCache<V> {
  private readonly entries = new Map<string, { value: V; at: number }>();
  private epoch = 0;

  constructor(
    private readonly isLive: () => boolean,
    private readonly options: { maxEntries: number; ttlMs: number },
  ) {}

  async get(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    if (!this.isLive()) return load();
    const hit = this.entries.get(key);
    if (hit && Date.now() - hit.at < this.options.ttlMs) return hit.value;
    return this.refresh(key, load);
  }

  /** Always reads, and keeps what it read (under the same rule as `get`): for callers that must decide on the row as it is. */
  async refresh(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const epoch = this.epoch;
    const value = await load();
    if (value !== undefined && epoch === this.epoch && this.isLive()) this.put(key, value);
    return value;
  }

  private put(key: string, value: V): void {
    this.entries.delete(key);
    // Oldest first out: a Map iterates in insertion order.
    if (this.entries.size >= this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, at: Date.now() });
  }

  delete(key: string): void {
    this.epoch++;
    this.entries.delete(key);
  }

  deleteWhere(predicate: (value: V) => boolean): void {
    this.epoch++;
    for (const [key, entry] of this.entries) if (predicate(entry.value)) this.entries.delete(key);
  }

  clear(): void {
    this.epoch++;
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

import pg from 'pg';
import type { Logger } from '../logger.js';

/** A row that in-memory copies depend on changed; `reset`: anything may have changed. */
export type Change = { kind: 'user' | 'account' | 'client'; id: string } | { kind: 'reset' };

export interface ChangeFeed {
  /** True while changes are being received: only then may a copy in memory be trusted. */
  readonly live: boolean;
  subscribe(listener: (change: Change) => void): void;
  close(): Promise<void>;
}

const CHANNEL = 'twofold_changes';
const KINDS = new Set(['user', 'account', 'client']);
const RECONNECT_MS = 1000;
/** A silent connection (a network partition) is noticed within HEARTBEAT_MS + HEARTBEAT_TIMEOUT_MS. */
const HEARTBEAT_MS = 5000;
const HEARTBEAT_TIMEOUT_MS = 2000;

export function parseChange(payload: string | undefined): Change {
  const at = payload?.indexOf(':') ?? -1;
  const kind = at > 0 ? payload!.slice(0, at) : '';
  const id = payload?.slice(at + 1) ?? '';
  // An unknown or truncated payload clears everything rather than nothing.
  return KINDS.has(kind) && id && id !== '*' ? { kind: kind as 'user' | 'account' | 'client', id } : { kind: 'reset' };
}

/**
 * Postgres notifications (migration 0013's triggers) on one dedicated connection. While that
 * connection is down nothing is live, and every listener is told `reset` when it drops and
 * again once it listens anew, so a copy never outlives a change it could have missed.
 */
export class PostgresChangeFeed implements ChangeFeed {
  private client: pg.Client | undefined;
  private listening = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly listeners: ((change: Change) => void)[] = [];

  constructor(
    private readonly connectionString: string,
    private readonly logger: Logger,
    private readonly timing = { heartbeatMs: HEARTBEAT_MS, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS },
  ) {}

  get live(): boolean {
    return this.listening && !this.closed;
  }

  subscribe(listener: (change: Change) => void): void {
    this.listeners.push(listener);
  }

  /** Resolves once listening, or after the first failed try (it keeps trying in the background). */
  async start(): Promise<void> {
    if (this.closed || this.client) return;
    const client = new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: 5000, keepAlive: true });
    this.client = client;
    client.on('notification', (message) => {
      if (message.channel === CHANNEL) this.emit(parseChange(message.payload));
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      if (this.client !== client) return;
      this.emit({ kind: 'reset' });
      this.listening = true;
      this.heartbeat = setInterval(() => void this.beat(client), this.timing.heartbeatMs);
      this.heartbeat.unref();
    } catch (err) {
      this.lost(client, err as Error);
    }
  }

  /** A query that does not come back in time counts as a lost connection. */
  private async beat(client: pg.Client): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no answer to the heartbeat')), this.timing.heartbeatTimeoutMs)));
    try {
      await Promise.race([client.query('SELECT 1'), late]);
    } catch (err) {
      this.lost(client, err as Error);
    } finally {
      clearTimeout(timer);
    }
  }

  private lost(client: pg.Client, err?: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    clearInterval(this.heartbeat);
    const wasListening = this.listening;
    this.listening = false;
    this.emit({ kind: 'reset' });
    client.end().catch(() => undefined);
    if (this.closed) return;
    if (wasListening) this.logger.warn({ err: err?.message }, 'postgres change notifications lost; reading through until they are back');
    this.timer = setTimeout(() => void this.start(), RECONNECT_MS);
    this.timer.unref();
  }

  private emit(change: Change): void {
    for (const listener of this.listeners) listener(change);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    const client = this.client;
    this.client = undefined;
    this.listening = false;
    await client?.end().catch(() => undefined);
  }
}

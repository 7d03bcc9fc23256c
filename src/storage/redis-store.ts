import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { EphemeralStore } from './ephemeral-store.js';
import { parseRedisUrl } from './redis-url.js';

/** One server (or a Sentinel-managed primary), or a Redis Cluster: the same commands on both. */
export type RedisClient = Redis | Cluster;

/**
 * EphemeralStore on Redis. Every method is a single command or a single script on one key, so
 * each call is one round trip, atomic, and works on a Redis Cluster (no call crosses slots).
 * Keys are namespaced by `prefix` so tests (and tenants) can share a server; the prefix has no
 * braces, so the hash tag of a key (its first `{…}`) is the one the caller chose.
 */
export class RedisStore implements EphemeralStore {
  readonly kind = 'redis' as const;

  private readonly scripts: RedisClient & Scripts;

  /** The raw client: the oidc-provider adapter issues its own scripts on it. */
  constructor(
    readonly redis: RedisClient,
    readonly prefix = 'twofold:',
  ) {
    this.scripts = withStoreScripts(redis);
  }

  /**
   * Connects; the client reconnects by itself after an outage (at least once a second, so
   * service resumes within about a second of Redis coming back). Commands are queued only
   * until the first connection is ready: during a later outage they fail at once, and a
   * command without a reply within 2 s fails too, so users see "temporarily unavailable"
   * rather than a page held for the reconnection back-off (seconds per command).
   */
  static connect(url: string, prefix: string, onError: (err: Error) => void = () => {}): RedisStore {
    const target = parseRedisUrl(url);
    const options: RedisOptions = {
      maxRetriesPerRequest: 2,
      enableOfflineQueue: true,
      lazyConnect: false,
      commandTimeout: 2000,
      retryStrategy: (times) => Math.min(times * 50, 1000),
    };
    let redis: RedisClient;
    if (target.kind === 'single') redis = new Redis(target.url, options);
    else if (target.kind === 'sentinel') {
      const { sentinels, name, db, username, password, tls } = target;
      redis = new Redis({ ...options, sentinels, name, db, username, password, ...(tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}) });
    } else {
      const { nodes, username, password, tls } = target;
      redis = new Cluster(nodes, {
        enableOfflineQueue: true,
        clusterRetryStrategy: (times) => Math.min(times * 50, 1000),
        // A slot whose master is down fails fast (a few short retries), as one server does.
        maxRedirections: 6,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        slotsRefreshTimeout: 1000,
        // The client drops a dead master and only looks again when the slot map is refreshed:
        // refreshing every 2 s reconnects it (or finds the replica that took over) soon after.
        slotsRefreshInterval: 2000,
        // Managed clusters announce names their TLS certificates are issued for: keep them.
        ...(tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
        redisOptions: { ...options, username, password, ...(tls ? { tls: {} } : {}) },
      });
    }
    redis.once('ready', () => {
      redis.options.enableOfflineQueue = false;
    });
    redis.on('error', onError);
    // A cluster reports a lost master here, not as 'error'.
    if (redis instanceof Cluster) redis.on('node error', onError);
    return new RedisStore(redis, prefix);
  }

  /** The key as stored in Redis. */
  key(key: string): string {
    return this.prefix + key;
  }

  async get(key: string): Promise<string | null> {
    return this.redis.get(this.key(key));
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    if (ttlSeconds === undefined) await this.redis.set(this.key(key), value);
    else await this.redis.set(this.key(key), value, 'EX', ttlSeconds);
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return (await this.redis.set(this.key(key), value, 'EX', ttlSeconds, 'NX')) === 'OK';
  }

  async getDel(key: string): Promise<string | null> {
    return this.redis.getdel(this.key(key));
  }

  async del(...keys: string[]): Promise<void> {
    if (keys.length > 0) await this.redis.del(...keys.map((k) => this.key(k)));
  }

  async increment(key: string, ttlSeconds: number): Promise<{ count: number; ttlMs: number }> {
    if (!(ttlSeconds > 0)) throw new RangeError('ttlSeconds must be positive');
    const [count, ttlMs] = (await this.scripts.twofoldIncrement(this.key(key), Math.round(ttlSeconds * 1000))) as [number, number];
    return { count: Number(count), ttlMs: Number(ttlMs) };
  }

  /**
   * One script over every key on one server; on a cluster the keys live in different slots, so
   * each is its own command (sent together).
   */
  async incrementEach(counters: readonly { key: string; ttlSeconds: number }[]): Promise<{ count: number; ttlMs: number }[]> {
    if (counters.some(({ ttlSeconds }) => !(ttlSeconds > 0))) throw new RangeError('ttlSeconds must be positive');
    if (this.redis instanceof Cluster || counters.length < 2) return Promise.all(counters.map(({ key, ttlSeconds }) => this.increment(key, ttlSeconds)));
    const flat = (await this.scripts.twofoldIncrementEach(
      counters.length,
      ...counters.map(({ key }) => this.key(key)),
      ...counters.map(({ ttlSeconds }) => Math.round(ttlSeconds * 1000)),
    )) as number[];
    return counters.map((_, i) => ({ count: Number(flat[2 * i]), ttlMs: Number(flat[2 * i + 1]) }));
  }

  async raise(key: string, value: number, ttlSeconds: number): Promise<number> {
    return Number(await this.scripts.twofoldRaise(this.key(key), value, Math.max(1, Math.ceil(ttlSeconds))));
  }

  async decrement(key: string): Promise<void> {
    await this.scripts.twofoldDecrement(this.key(key));
  }

  async ttlMs(key: string): Promise<number> {
    return this.redis.pttl(this.key(key));
  }

  /**
   * On a cluster every master must answer: a dead one makes a share of all keys unreachable.
   * The client drops a dead master's connection, so each slot owner must still be connected.
   */
  async ping(): Promise<void> {
    if (!(this.redis instanceof Cluster)) {
      await this.redis.ping();
      return;
    }
    const masters = this.redis.nodes('master');
    const connected = new Set(masters.map((node) => `${node.options.host}:${node.options.port}`));
    const owners = new Set(this.redis.slots.map((nodes) => nodes?.[0]));
    if (masters.length === 0 || [...owners].some((owner) => owner === undefined || !connected.has(owner))) {
      this.redis.refreshSlotsCache();
      throw new Error('a Redis Cluster master is unreachable');
    }
    await Promise.all(masters.map((node) => node.ping()));
    if (!/cluster_state:ok/.test(String(await masters[0]!.cluster('INFO')))) throw new Error('Redis Cluster state is not ok');
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}

const RAISE = `
local held = tonumber(redis.call('GET', KEYS[1]))
local value = tonumber(ARGV[1])
if held ~= nil and held > value then value = held end
redis.call('SET', KEYS[1], tostring(value), 'EX', ARGV[2])
return tostring(value)`;

// One command, one round trip: PEXPIRE NX only arms the TTL when the key has none,
// i.e. on the window's first hit.
const INCREMENT = `
local count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'NX')
return {count, redis.call('PTTL', KEYS[1])}`;

/** INCREMENT for each of KEYS, ARGV[i] the window of KEYS[i]; returns count, ttl pairs in order. */
const INCREMENT_EACH = `
local out = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  redis.call('PEXPIRE', key, ARGV[i], 'NX')
  out[2 * i - 1] = count
  out[2 * i] = redis.call('PTTL', key)
end
return out`;

// DECR on an absent key would create one without expiry: only a live counter is touched.
const DECREMENT = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end
return 0`;

interface Scripts {
  twofoldIncrement(key: string, windowMs: number): Promise<unknown>;
  twofoldIncrementEach(numberOfKeys: number, ...keysThenWindowsMs: (string | number)[]): Promise<unknown>;
  twofoldDecrement(key: string): Promise<unknown>;
  twofoldRaise(key: string, value: number, ttlSeconds: number): Promise<unknown>;
}

/** Scripts sent by their SHA (EVALSHA): the source travels once per connection, not per call. */
function withStoreScripts(redis: RedisClient): RedisClient & Scripts {
  if (!('twofoldIncrement' in redis)) {
    redis.defineCommand('twofoldIncrement', { lua: INCREMENT, numberOfKeys: 1 });
    // The number of keys comes with each call.
    redis.defineCommand('twofoldIncrementEach', { lua: INCREMENT_EACH });
    redis.defineCommand('twofoldDecrement', { lua: DECREMENT, numberOfKeys: 1 });
    redis.defineCommand('twofoldRaise', { lua: RAISE, numberOfKeys: 1 });
  }
  return redis as RedisClient & Scripts;
}

import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/load-config.js';
import { parseRedisUrl } from '../../../src/storage/redis-url.js';

const dataDir = mkdtempSync(join(tmpdir(), 'twofold-redis-url-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** The REDIS_URL line of the start-up error, or undefined when the setting is accepted. */
function redisProblem(env: Record<string, string>): string | undefined {
  try {
    loadConfig({ DATA_DIR: dataDir, ...env });
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message.split('\n').find((l) => l.startsWith('REDIS_URL') || l.startsWith('REDIS_KEY_PREFIX'));
  }
}

describe('REDIS_URL', () => {
  it('one server: redis:// and rediss:// as given', () => {
    expect(parseRedisUrl('redis://cache:6379/2')).toEqual({ kind: 'single', url: 'redis://cache:6379/2' });
    expect(parseRedisUrl('rediss://:pw@cache:6380')).toEqual({ kind: 'single', url: 'rediss://:pw@cache:6380' });
  });

  it('a cluster: every seed node, TLS with rediss+cluster://, credentials percent-decoded', () => {
    expect(parseRedisUrl('redis+cluster://10.0.0.1:7001,10.0.0.2:7002,node-3.example.com')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7001 },
        { host: '10.0.0.2', port: 7002 },
        { host: 'node-3.example.com', port: 6379 },
      ],
      tls: false,
    });
    expect(parseRedisUrl('rediss+cluster://app:p%40ss%2Cw@[::1]:7000/')).toEqual({
      kind: 'cluster',
      nodes: [{ host: '::1', port: 7000 }],
      username: 'app',
      password: 'p@ss,w',
      tls: true,
    });
  });

  it('Sentinel: the sentinels, the master name and an optional database', () => {
    expect(parseRedisUrl('redis+sentinel://:secret@s1:26380,s2/mymaster/3')).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26380 },
        { host: 's2', port: 26379 },
      ],
      name: 'mymaster',
      db: 3,
      password: 'secret',
      tls: false,
    });
  });

  it.each([
    ['redis+cluster://', 'host:port'],
    ['redis+cluster://a:7001,,b:7002', 'host:port'],
    ['redis+cluster://a:7001, b:7002', 'host:port'],
    ['redis+cluster://a:99999', 'host:port'],
    ['redis+cluster://a:7001/0', 'no path'],
    ['redis+sentinel://s1:26379', 'names the master'],
    ['redis+sentinel://s1:26379/mymaster/x', '/<master name>/<db number>'],
    ['redis+clusters://a:1', 'redis+cluster://'],
    ['http://cache', 'redis+cluster://'],
    ['redis+cluster://u:%zz@a:1', 'percent-encoded'],
  ])('%s is refused at start-up with a clear message', (url, fragment) => {
    const line = redisProblem({ REDIS_URL: url });
    expect(line).toMatch(/^REDIS_URL: /);
    expect(line).toContain(fragment);
  });

  it('the message never quotes a password', () => {
    const line = redisProblem({ REDIS_URL: 'redis+cluster://:hunter2-secret@a:7001/x' });
    expect(line).toMatch(/^REDIS_URL: /);
    expect(line).not.toContain('hunter2');
  });

  it('accepts the cluster and Sentinel forms', () => {
    expect(loadConfig({ DATA_DIR: dataDir, REDIS_URL: 'rediss+cluster://a:7001,b:7002' }).redisUrl).toBe('rediss+cluster://a:7001,b:7002');
    expect(redisProblem({ REDIS_URL: 'redis+sentinel://s1:26379,s2:26379/mymaster' })).toBeUndefined();
  });

  it('REDIS_KEY_PREFIX cannot hold braces: the hash tag of every key stays the one Twofold chose', () => {
    expect(redisProblem({ REDIS_KEY_PREFIX: '{tenant}:' })).toMatch(/^REDIS_KEY_PREFIX: /);
  });
});

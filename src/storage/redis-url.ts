/**
 * REDIS_URL in its three shapes: one server (`redis://`, `rediss://`), a primary found through
 * Sentinel (`redis+sentinel://h:p[,h:p…]/<master name>[/<db>]`) and a Redis Cluster
 * (`redis+cluster://h:p[,h:p…]`, `rediss+cluster://` for TLS). Errors never quote the URL:
 * it may carry a password.
 */

export interface RedisNode {
  host: string;
  port: number;
}

interface Credentials {
  username?: string;
  password?: string;
  tls: boolean;
}

export type RedisTarget =
  | { kind: 'single'; url: string }
  | ({ kind: 'sentinel'; sentinels: RedisNode[]; name: string; db: number } & Credentials)
  | ({ kind: 'cluster'; nodes: RedisNode[] } & Credentials);

export class RedisUrlError extends Error {}

const MULTI = /^(redis|rediss)\+(sentinel|cluster):\/\/(?:([^@/?#]*)@)?([^/?#]+)(\/[^?#]*)?$/;

export function parseRedisUrl(value: string): RedisTarget {
  const multi = MULTI.exec(value);
  if (!multi) return { kind: 'single', url: single(value) };
  const [, scheme, kind, userinfo, hostList, path = ''] = multi;
  const credentials = { ...parseUserinfo(userinfo), tls: scheme === 'rediss' };
  const nodes = hostList!.split(',').map((hp) => parseNode(hp, kind === 'sentinel' ? 26379 : 6379));
  if (kind === 'cluster') {
    if (path !== '' && path !== '/') throw new RedisUrlError('a redis+cluster:// URL has no path: a cluster has no databases or names');
    return { kind: 'cluster', nodes, ...credentials };
  }
  const [name, db = '0', ...rest] = path.replace(/^\//, '').split('/');
  if (!name) throw new RedisUrlError('a redis+sentinel:// URL names the master after the hosts: redis+sentinel://host:port/mymaster');
  if (rest.length > 0 || !/^\d{1,2}$/.test(db)) throw new RedisUrlError('a redis+sentinel:// URL ends in /<master name> or /<master name>/<db number>');
  return { kind: 'sentinel', sentinels: nodes, name: decodeURIComponent(name), db: Number(db), ...credentials };
}

function single(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new RedisUrlError(MESSAGE);
  }
  if (!['redis:', 'rediss:'].includes(url.protocol) || url.host === '') throw new RedisUrlError(MESSAGE);
  return value;
}

const MESSAGE = 'must be redis://host:port, rediss://…, redis+sentinel://host:port[,host:port…]/master-name or redis+cluster://host:port[,host:port…] (rediss+cluster:// for TLS)';

function parseUserinfo(userinfo: string | undefined): { username?: string; password?: string } {
  if (userinfo === undefined || userinfo === '') return {};
  const colon = userinfo.indexOf(':');
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new RedisUrlError('the user name or password in REDIS_URL is not correctly percent-encoded');
    }
  };
  if (colon < 0) return { username: decode(userinfo) };
  const username = decode(userinfo.slice(0, colon));
  return { ...(username ? { username } : {}), password: decode(userinfo.slice(colon + 1)) };
}

/** `host:port`, `host` (default port) or `[v6]:port`. */
function parseNode(hostPort: string, defaultPort: number): RedisNode {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(hostPort);
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  if (!m || port < 1 || port > 65535) throw new RedisUrlError(`every host of REDIS_URL must be host:port (comma-separated, no spaces); one is not`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

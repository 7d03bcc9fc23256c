/**
 * The deployment files (deploy/compose.yaml with its Caddyfile and env.example, and the
 * Kubernetes manifests) cannot be started here, so they are read as data: every variable they
 * hand to Twofold must be a real setting, the settings must pass the production rules as
 * loadConfig applies them, the probes must answer on the real health routes, and the migration
 * must run before the servers.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { parse, parseAllDocuments } from 'yaml';
import { settingNames } from '../../../src/config/config-schema.js';
import { ConfigError, loadConfig, type Config } from '../../../src/config/load-config.js';
import { healthRoutes } from '../../../src/http/health-routes.js';
import { hostCheck } from '../../../src/http/host-check.js';

type Env = Record<string, string>;
type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed YAML documents

const read = (path: string) => readFileSync(path, 'utf8');
const settings = new Set<string>(settingNames);

/** NAME=value lines as compose reads an env_file: comments and blank lines skipped, one pair of quotes removed. */
function parseEnvFile(text: string): Env {
  const env: Env = {};
  for (const line of text.split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new Error(`not a NAME=value line: ${line}`);
    env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return env;
}

const generateSecrets = (...args: string[]) => parseEnvFile(execFileSync(process.execPath, ['scripts/generate-secrets.js', ...args], { encoding: 'utf8' }));

/** What an operator types into the values env.example and the Secret leave empty. */
const operatorValues: Env = { VONAGE_API_KEY: 'a1b2c3d4', VONAGE_API_SECRET: 'vonage-secret-value', SMTP_URL: 'smtp://mailer:mail-password@smtp.example.com:587' };
const fillEmpty = (env: Env, values: Env): Env => Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === '' && values[k] !== undefined ? values[k] : v]));

/** Compose's ${NAME}, ${NAME:-default} and ${NAME:?error} in every string of the file. */
function interpolate<T>(value: T, vars: Env): T {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-?])([^}]*))?\}/g, (_, name: string, op?: string, arg?: string) => {
      const v = vars[name];
      if (v !== undefined && v !== '') return v;
      if (op === '?') throw new Error(`${name}: ${arg}`);
      return op === '-' ? arg! : '';
    }) as T;
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, vars)) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, vars)])) as T;
  return value;
}

const stringValues = (record: Record<string, unknown> | undefined): Env => Object.fromEntries(Object.entries(record ?? {}).map(([k, v]) => [k, String(v)]));

function configProblems(env: Env): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map((p) => p.split(':')[0]!);
  }
  return [];
}

/** The production rules the deployment files promise, beyond what loadConfig enforces by itself. */
function expectProductionReady(env: Env, config: Config) {
  expect(env.NODE_ENV).toBe('production');
  // Explicit, and not the console senders that refuse to run in production anyway.
  expect(env.SMS_PROVIDER).toBe('vonage');
  expect(env.MAIL_PROVIDER).toBe('smtp');
  expect(config.issuer).toMatch(/^https:\/\/[a-z0-9.-]+$/);
  // Without these the server would fall back to embedded Postgres and an in-process store: one node each.
  expect(config.databaseUrl).toBeDefined();
  expect(config.redisUrl).toBeDefined();
  expect(config.cookieKeys.length).toBeGreaterThan(0);
  expect(config.metricsToken).toBeDefined();
  // One proxy in front, which passes the client's Host on: ISSUER's host is the only name answered.
  expect(config.trustProxy).toBe(true);
  expect(config.trustProxyHops).toBe(1);
  expect(config.allowedHosts).toEqual([new URL(config.issuer).host]);
}

const dockerfile = read('Dockerfile');
const dockerHealthPath = /^HEALTHCHECK .*'(\/[a-z]+)'\)/m.exec(dockerfile)?.[1];

describe('deploy/compose.yaml', () => {
  const example = parseEnvFile(read('deploy/env.example'));
  // The operator's deploy/.env: env.example filled in, with the generated secrets appended.
  const dotenv = { ...fillEmpty(example, operatorValues), ...generateSecrets('--postgres') };
  const raw = parse(read('deploy/compose.yaml'), { merge: true }) as Yaml;
  const compose = interpolate(raw, dotenv);
  const services = compose.services as Record<string, Yaml>;
  const twofoldNames = Object.keys(services).filter((name) => services[name]!.image === services.migrate?.image);
  const serverNames = twofoldNames.filter((name) => name !== 'migrate');
  const containerEnv = (name: string, fileEnv: Env = dotenv): Env => {
    expect([services[name]!.env_file].flat()).toEqual(['.env']);
    return { ...fileEnv, ...stringValues(services[name]!.environment) };
  };

  it('runs a migration service and two Twofold servers, all from the image built from this checkout', () => {
    expect(twofoldNames.sort()).toEqual(['migrate', 'twofold-1', 'twofold-2']);
    for (const name of twofoldNames) expect(services[name]!.build).toEqual({ context: '..' });
  });

  it('hands the servers only real settings, and they pass the production rules', () => {
    for (const name of twofoldNames) {
      const env = containerEnv(name);
      // The Postgres password also reaches compose's Postgres; every other name must be a setting.
      expect(Object.keys(env).filter((k) => !settings.has(k))).toEqual(['POSTGRES_PASSWORD']);
      const config = loadConfig(env);
      expectProductionReady(env, config);
      expect(config.databaseUrl).toBe(`postgres://twofold:${dotenv.POSTGRES_PASSWORD}@postgres:5432/twofold`);
      expect(config.redisUrl).toBe('redis://redis:6379');
    }
  });

  it('does not start before its secrets are generated and its empty values filled in', () => {
    expect(() => interpolate(raw, example)).toThrow(/POSTGRES_PASSWORD/);
    expect(configProblems(containerEnv('twofold-1', example)).sort()).toEqual(['COOKIE_KEYS', 'DATA_ENCRYPTION_KEY', 'SMTP_URL', 'VONAGE_API_KEY', 'VONAGE_API_SECRET']);
  });

  it('migrates once, after Postgres is healthy, and starts the servers only after that succeeded', () => {
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "bin\/twofold.js"\]$/m);
    expect(dockerfile).toMatch(/^CMD \["serve"\]$/m);
    expect(services.migrate!.command).toEqual(['migrate']);
    expect(services.migrate!.restart).toBe('no');
    expect(services.migrate!.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(services.postgres!.healthcheck).toBeDefined();
    expect(services.redis!.healthcheck).toBeDefined();
    for (const name of serverNames) {
      expect(services[name]!.command).toBeUndefined(); // the image's `serve`
      expect(services[name]!.depends_on).toEqual({ migrate: { condition: 'service_completed_successfully' }, redis: { condition: 'service_healthy' } });
    }
  });

  it('puts Caddy in front of both servers for ISSUER, and only Caddy is reachable from outside', () => {
    const proxy = services.proxy!;
    expect(proxy.image).toMatch(/^caddy:/);
    expect(proxy.environment).toEqual({ ISSUER: dotenv.ISSUER });
    expect(proxy.volumes).toContain('./Caddyfile:/etc/caddy/Caddyfile:ro');
    // With TRUST_PROXY on, a server port published past the proxy would let clients choose their own address.
    expect(Object.keys(services).filter((name) => services[name]!.ports !== undefined)).toEqual(['proxy']);

    const caddyfile = read('deploy/Caddyfile');
    expect(caddyfile).toMatch(/^\{\$ISSUER\} \{$/m);
    const upstreams = /^\s*reverse_proxy ([^{\n]+)\{/m.exec(caddyfile)?.[1]!.trim().split(/\s+/);
    expect(upstreams?.sort()).toEqual(serverNames.map((name) => `${name}:${loadConfig(containerEnv(name)).port}`).sort());
    // Caddy passes Host on unless told otherwise; rewriting it would make every request a 400.
    expect(caddyfile).not.toMatch(/header_up\s+Host/i);
    expect(/^\s*health_uri (\S+)$/m.exec(caddyfile)?.[1]).toBe('/readyz');
  });
});

describe('deploy/kubernetes', () => {
  const docs: Yaml[] = readdirSync('deploy/kubernetes')
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(read(`deploy/kubernetes/${f}`)).map((d) => d.toJS() as Yaml));
  const one = (kind: string) => {
    const found = docs.filter((d) => d.kind === kind);
    expect(found).toHaveLength(1);
    return found[0]!;
  };
  const deployment = one('Deployment');
  const job = one('Job');
  const configMap = one('ConfigMap');
  const secret = one('Secret');
  const service = one('Service');
  const ingress = one('Ingress');
  const server = deployment.spec.template.spec.containers[0] as Yaml;

  /** The environment a container sees: its envFrom sources in order, then its own env entries. */
  function containerEnv(container: Yaml, secretData: Env = stringValues(secret.stringData)): Env {
    const env: Env = {};
    for (const from of container.envFrom ?? []) {
      if (from.configMapRef) {
        expect(from.configMapRef.name).toBe(configMap.metadata.name);
        Object.assign(env, stringValues(configMap.data));
      } else {
        expect(from.secretRef?.name).toBe(secret.metadata.name);
        Object.assign(env, secretData);
      }
    }
    for (const e of container.env ?? []) env[e.name] = String(e.value);
    return env;
  }
  const generated = generateSecrets();
  const filledSecret = (): Env => fillEmpty(fillEmpty(stringValues(secret.stringData), generated), operatorValues);

  it('runs two replicas that get only real settings, and they pass the production rules', () => {
    expect(deployment.spec.replicas).toBe(2);
    const env = containerEnv(server, filledSecret());
    expect(Object.keys(env).filter((k) => !settings.has(k))).toEqual([]);
    expectProductionReady(env, loadConfig(env));
  });

  it('keeps the keys in the Secret, where the generator fills exactly the keys left empty besides the operator values', () => {
    const data = stringValues(secret.stringData);
    expect(Object.keys(configMap.data).filter((k) => k in data)).toEqual([]);
    for (const name of Object.keys(generated)) expect(data[name]).toBe('');
    expect(Object.keys(data).filter((k) => data[k] === '' && !(k in generated) && !(k in operatorValues))).toEqual([]);
    // Applied unedited, the pods refuse to start and name what is missing.
    expect(configProblems(containerEnv(server)).sort()).toEqual(['COOKIE_KEYS', 'DATA_ENCRYPTION_KEY', 'SMTP_URL', 'VONAGE_API_KEY', 'VONAGE_API_SECRET']);
  });

  it('probes readiness on /readyz and liveness on /healthz at the port the server listens on', () => {
    const port = loadConfig(containerEnv(server, filledSecret())).port;
    expect(server.ports).toEqual([{ name: 'http', containerPort: port }]);
    expect(server.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(server.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
  });

  it('routes the ISSUER host through the ingress and the Service to the pods, and exposes them no other way', () => {
    const issuerHost = new URL(loadConfig(containerEnv(server, filledSecret())).issuer).host;
    expect(service.spec.type ?? 'ClusterIP').toBe('ClusterIP');
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http' }]);
    expect(ingress.spec.rules).toEqual([
      { host: issuerHost, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service.metadata.name, port: { name: 'http' } } } }] } },
    ]);
    expect(ingress.spec.tls[0].hosts).toEqual([issuerHost]);
  });

  it('migrates with a Job that uses the same image and settings as the servers', () => {
    const migrate = job.spec.template.spec.containers[0] as Yaml;
    expect(job.spec.template.spec.containers).toHaveLength(1);
    expect(migrate.args).toEqual(['migrate']);
    expect(server.args).toEqual(['serve']);
    expect(migrate.image).toBe(server.image);
    expect(migrate.envFrom).toEqual(server.envFrom);
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
  });

  it('is documented to run the migration Job to completion before the Deployment is applied', () => {
    const readme = read('README.md');
    const section = readme.slice(readme.indexOf('\n## Deploying'), readme.indexOf('\n## ', readme.indexOf('\n## Deploying') + 1));
    const lines = section.split('\n').map((l) => l.trim());
    const at = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));
    const applyJob = at(/^kubectl apply -f deploy\/kubernetes\/migrate-job\.yaml$/);
    const waitJob = at(/^kubectl wait --for=condition=complete job\/twofold-migrate\b/);
    const applyServers = at(/^kubectl apply -f deploy\/kubernetes\/deployment\.yaml\b/);
    expect(applyJob).toBeGreaterThan(-1);
    expect(waitJob).toBeGreaterThan(applyJob);
    expect(applyServers).toBeGreaterThan(waitJob);
  });
});

describe('the probes of every deployment file', () => {
  let server: Server;
  let healthy = true;
  const issuerHost = 'id.example.com';
  beforeAll(async () => {
    const app = new Koa();
    app.silent = true;
    app.use(hostCheck([issuerHost]));
    app.use(
      healthRoutes({
        postgres: async () => {
          if (!healthy) throw new Error('down');
        },
      }).routes(),
    );
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  /** A probe comes from the kubelet, Caddy or Docker with the pod's or container's address as Host. */
  const probe = (path: string, host = '10.1.2.3:3000') =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path, headers: { host } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject).end();
    });

  it('answer on the real health routes whatever the Host, and only readiness follows the backing stores', async () => {
    const k8s = readFileSync('deploy/kubernetes/deployment.yaml', 'utf8');
    const paths = {
      liveness: [dockerHealthPath, /livenessProbe:\s+httpGet:\s+path: (\S+)/.exec(k8s)?.[1]],
      readiness: [/^\s*health_uri (\S+)$/m.exec(read('deploy/Caddyfile'))?.[1], /readinessProbe:\s+httpGet:\s+path: (\S+)/.exec(k8s)?.[1]],
    };
    expect(paths).toEqual({ liveness: ['/healthz', '/healthz'], readiness: ['/readyz', '/readyz'] });
    // Any other path from such a Host is refused, so the probes pass only on routes exempt from the host check.
    expect(await probe('/')).toBe(400);
    healthy = true;
    for (const path of [...paths.liveness, ...paths.readiness]) expect(await probe(path!)).toBe(200);
    healthy = false;
    for (const path of paths.liveness) expect(await probe(path!)).toBe(200);
    for (const path of paths.readiness) expect(await probe(path!)).toBe(503);
  });
});

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { api, enrolAndSignIn, expectError, expectStatus, userIn, type ApiResponse, type SignedIn } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { sql } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { clusterSecrets, REDIS_URL, ROOT, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';

/**
 * /admin/v1/openapi.json against the running server and the router's source: the document
 * parses, every documented operation answers as documented (status codes and JSON bodies that
 * match the documented schemas), every route is documented, and no route, documented or
 * guessed, adds, verifies or changes a user's device.
 */
type Schema = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Doc = { openapi: string; info: Schema; servers: Array<{ url: string }>; security?: unknown[]; paths: Record<string, Record<string, Schema>>; components: Schema };

let db: TestDatabase;
let server: TwofoldProcess;
let doc: Doc;
let support: Fixture;
let supportSession: SignedIn;
let admin: Fixture;
let adminSession: SignedIn;
let otherAdminSession: SignedIn;
let target: Fixture;

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_openapi');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...clusterSecrets() });
  const client = await confidentialClient(db.url);
  support = await accountWithUser(db.url, { mfaRequired: true, support: true });
  admin = await accountWithUser(db.url, { mfaRequired: true, role: 'admin' });
  const otherAdmin = await accountWithUser(db.url, { mfaRequired: true, role: 'admin' });
  target = await userIn(db.url, admin.accountId);
  [supportSession, adminSession, otherAdminSession] = await Promise.all([
    enrolAndSignIn(server.url, client, support),
    enrolAndSignIn(server.url, client, admin),
    enrolAndSignIn(server.url, client, otherAdmin),
    // The target user has a verified TOTP device (and its recovery codes, if any).
    enrolAndSignIn(server.url, client, target, { scope: 'openid' }),
  ]);
  const res = await fetch(`${server.url}/admin/v1/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = JSON.parse(await res.text()) as Doc;
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

/** Every documented operation: method, path template and its operation object. */
function operations(): Array<{ method: string; template: string; op: Schema }> {
  return Object.entries(doc.paths).flatMap(([template, item]) => METHODS.filter((m) => item[m]).map((method) => ({ method, template, op: item[method]! })));
}

function resolve(schema: Schema): Schema {
  let s = schema;
  for (let i = 0; s && typeof s.$ref === 'string' && i < 10; i++) {
    const parts = (s.$ref as string).replace(/^#\//, '').split('/');
    s = parts.reduce<Schema>((node, key) => node?.[key], doc as unknown as Schema);
    if (!s) throw new Error(`unresolved $ref ${schema.$ref}`);
  }
  return s;
}

/** A small JSON Schema (2020-12 subset used by the document) validator; returns the problems. */
function validate(value: unknown, schemaIn: Schema, at = '$'): string[] {
  const schema = resolve(schemaIn);
  const problems: string[] = [];
  const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);
  if (schema.type !== undefined) {
    const types = ([] as string[]).concat(schema.type);
    const t = typeOf(value);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [`${at}: ${t} is not ${types.join('|')}`];
  }
  if (schema.enum && !schema.enum.some((e: unknown) => e === value)) problems.push(`${at}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string') {
    if (schema.format === 'date-time' && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value)) problems.push(`${at}: not a date-time`);
    if (schema.format === 'uuid' && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) problems.push(`${at}: not a uuid`);
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) problems.push(`${at}: does not match ${schema.pattern}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${at}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${at}: above ${schema.maximum}`);
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => problems.push(...validate(v, schema.items, `${at}[${i}]`)));
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in obj)) problems.push(`${at}: missing ${key}`);
    for (const [key, v] of Object.entries(obj)) {
      if (schema.properties?.[key]) problems.push(...validate(v, schema.properties[key], `${at}.${key}`));
      else if (schema.additionalProperties === false) problems.push(`${at}: unexpected ${key}`);
    }
  }
  return problems;
}

/** The answer must be a documented status, and a documented JSON body must match its schema. */
function expectDocumented(op: Schema, res: ApiResponse, label: string): void {
  const documented = op.responses?.[String(res.status)];
  if (!documented) throw new Error(`${label}: ${res.status} is not documented (${Object.keys(op.responses ?? {}).join(', ')}): ${res.text.slice(0, 300)}`);
  const response = resolve(documented);
  const schema = response.content?.['application/json']?.schema;
  if (schema) {
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const problems = validate(res.json, schema);
    if (problems.length) throw new Error(`${label}: the ${res.status} body does not match the document: ${problems.join('; ')}\n${res.text.slice(0, 500)}`);
  } else if (res.status === 204) {
    expect(res.text).toBe('');
  }
}

const isSecured = (op: Schema) => ((op.security ?? doc.security ?? []) as unknown[]).length > 0;

type Ids = { accountId: string; userId: string; requestId: string };

/** A concrete path for a template, with the given ids. */
function fill(template: string, ids: Ids): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (name === 'accountId') return ids.accountId;
    if (name === 'userId') return ids.userId;
    if (name === 'requestId') return ids.requestId;
    throw new Error(`no value for path parameter ${name} in ${template}`);
  });
}

/** A request body the documented schema accepts (the smallest: required properties only). */
function exampleOf(schemaIn: Schema): unknown {
  const schema = resolve(schemaIn);
  const type = ([] as string[]).concat(schema.type ?? (schema.properties ? 'object' : 'string'))[0];
  if (schema.enum) return schema.enum[0];
  if (type === 'object') return Object.fromEntries((schema.required ?? []).map((k: string) => [k, exampleOf(schema.properties[k])]));
  if (type === 'boolean') return true;
  if (type === 'integer' || type === 'number') return schema.minimum ?? 1;
  if (type === 'array') return [];
  return 'x';
}

async function call(method: string, template: string, op: Schema, token: string | undefined, ids: Ids, query = ''): Promise<ApiResponse> {
  const bodySchema = op.requestBody?.content?.['application/json']?.schema;
  return api(server.url, token, method.toUpperCase(), `${fill(template, ids)}${query}`, bodySchema ? { json: exampleOf(bodySchema) } : {});
}

/** The mfa_devices rows of every user, every column, in a stable order. */
const allDevices = () => sql(db.url, 'SELECT * FROM mfa_devices ORDER BY id');
const allRecoveryCodes = () => sql(db.url, 'SELECT * FROM recovery_codes ORDER BY id');

describe('the OpenAPI document', () => {
  test('parses as OpenAPI 3.1 with resolvable references, served without a token', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(typeof doc.info.title).toBe('string');
    expect(typeof doc.info.version).toBe('string');
    expect(doc.servers[0]!.url).toBe(`${server.url}/admin/v1`);
    expect(operations().length).toBeGreaterThanOrEqual(7);
    const refs: string[] = [];
    JSON.stringify(doc, (key, value) => {
      if (key === '$ref') refs.push(value as string);
      return value;
    });
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(() => resolve({ $ref: ref })).not.toThrow();
    for (const { method, template, op } of operations()) {
      expect(typeof op.operationId).toBe('string');
      expect(Object.keys(op.responses ?? {}).length).toBeGreaterThan(0);
      for (const name of template.match(/\{(\w+)\}/g) ?? []) {
        expect((op.parameters ?? []).some((p: Schema) => p.in === 'path' && `{${p.name}}` === name && p.required === true)).toBe(true);
      }
      if (isSecured(op)) expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
      if (['put', 'post', 'patch'].includes(method) && op.requestBody) expect(Object.keys(op.requestBody.content)).toEqual(['application/json']);
    }
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  test('every route of src/admin/admin-routes.ts is documented, and every documented operation is a route', () => {
    const source = fs.readFileSync(path.join(ROOT, 'src/admin/admin-routes.ts'), 'utf8');
    const prefix = /new Router\(\{\s*prefix:\s*'([^']+)'/.exec(source)?.[1];
    expect(prefix).toBe('/admin/v1');
    const routes = [...source.matchAll(/router\.(get|put|post|patch|delete|del|all|head|options)\(\s*['"`]([^'"`]+)['"`]/g)]
      // The one catch-all (unknown paths and methods answer 404/405 in the error shape) is no endpoint.
      .filter((m) => !(m[1] === 'all' && /^\/\{\*\w+\}$/.test(m[2]!)))
      .map((m) => `${m[1]!.toUpperCase()} ${m[2]!.replace(/:(\w+)/g, '{$1}')}`);
    expect(routes.length).toBeGreaterThanOrEqual(7);
    const documented = operations().map(({ method, template }) => `${method.toUpperCase()} ${template}`);
    expect([...routes].sort()).toEqual([...documented].sort());
  });

  test('every documented operation answers as documented: without a token, with support, with an admin of another account, for unknown ids', async () => {
    const ids: Ids = { accountId: admin.accountId, userId: target.userId, requestId: crypto.randomUUID() };
    const unknown: Ids = { accountId: crypto.randomUUID(), userId: crypto.randomUUID(), requestId: crypto.randomUUID() };
    // What support's successful call needs: no open request to file beside, or a pending one filed by the account's admin to decide.
    const reopen = async () => {
      await sql(db.url, "UPDATE mfa_disable_requests SET status = 'rejected', decided_at = now() WHERE account_id = $1 AND status = 'pending'", [admin.accountId]);
      await sql(db.url, 'UPDATE accounts SET mfa_required = true WHERE id = $1', [admin.accountId]);
    };
    const prepare: Record<string, () => Promise<Partial<Ids>>> = {
      'POST /accounts/{accountId}/mfa-policy/disable-requests': async () => (await reopen(), {}),
      'POST /mfa-policy/disable-requests/{requestId}/approve': fileByAdmin,
      'POST /mfa-policy/disable-requests/{requestId}/reject': fileByAdmin,
    };
    async function fileByAdmin(): Promise<Partial<Ids>> {
      await reopen();
      const res = await api(server.url, adminSession.accessToken, 'POST', `/accounts/${admin.accountId}/mfa-policy/disable-requests`, { json: { reason: 'x' } });
      expectStatus(res, 201);
      return { requestId: res.json.id as string };
    }
    // Reset-MFA last: it removes the target's device.
    const ordered = operations().sort((x, y) => Number(x.template.includes('reset-mfa')) - Number(y.template.includes('reset-mfa')));
    for (const { method, template, op } of ordered) {
      const label = `${method.toUpperCase()} ${template}`;
      const anonymous = await call(method, template, op, undefined, ids);
      if (isSecured(op)) {
        expect({ label, status: anonymous.status }).toEqual({ label, status: 401 });
      } else {
        expect({ label, status: anonymous.status }).toEqual({ label, status: 200 });
      }
      expectDocumented(op, anonymous, `${label} without a token`);
      if (!isSecured(op)) continue;

      const other = await call(method, template, op, otherAdminSession.accessToken, ids);
      expect({ label, status: other.status }).toEqual({ label, status: 403 });
      expectDocumented(op, other, `${label} by another account's admin`);

      if (template.includes('{')) {
        const missing = await call(method, template, op, supportSession.accessToken, unknown);
        expect({ label, status: missing.status }).toEqual({ label, status: 404 });
        expectDocumented(op, missing, `${label} for unknown ids`);
      }

      const ok = await call(method, template, op, supportSession.accessToken, { ...ids, ...(await prepare[label]?.()) });
      expect({ label, status: ok.status }).toEqual({ label, status: Number(Object.keys(op.responses).find((s) => s.startsWith('2'))) });
      expectDocumented(op, ok, `${label} by support`);

      // Documented query parameters: the bounds are enforced as documented.
      for (const p of (op.parameters ?? []).filter((q: Schema) => q.in === 'query' && q.schema?.maximum !== undefined)) {
        expectDocumented(op, await call(method, template, op, supportSession.accessToken, ids, `?${p.name}=${p.schema.maximum}`), `${label} ${p.name} at maximum`);
        const over = await call(method, template, op, supportSession.accessToken, ids, `?${p.name}=${p.schema.maximum + 1}`);
        expect(over.status).toBeGreaterThanOrEqual(400);
        expectDocumented(op, over, `${label} ${p.name} above maximum`);
      }
    }
    // The admin of the account may read (documented 200s), and is refused support's actions with a documented 403.
    for (const { method, template, op } of operations().filter((o) => isSecured(o.op))) {
      const res = await call(method, template, op, adminSession.accessToken, ids);
      expectDocumented(op, res, `${method.toUpperCase()} ${template} by the account's admin`);
      if (template.startsWith('/users/')) expect(res.json).toMatchObject({ error: 'support_required' });
    }
  });
});

describe('self_approval', () => {
  test("documented, and answered as documented: support disabling their own account's requirement", async () => {
    const put = doc.paths['/accounts/{accountId}/mfa-policy']!.put!;
    expect(put.description).toContain('403 self_approval');
    expect(resolve(doc.components.schemas.Error).properties.error.description).toContain('self_approval');
    const own = await api(server.url, supportSession.accessToken, 'PUT', `/accounts/${support.accountId}/mfa-policy`, { json: { mfaRequired: false } });
    expect(own.status).toBe(403);
    expect(own.json).toMatchObject({ error: 'self_approval' });
    expectDocumented(put, own, "PUT mfa-policy false on support's own account");
  });
});

describe('no endpoint adds, verifies or changes a device', () => {
  test('guessed device routes under /admin/v1 (every method) → 404/405; documented routes leave every device as it was', async () => {
    const owner = await userIn(db.url, admin.accountId);
    const client = await confidentialClient(db.url);
    await enrolAndSignIn(server.url, client, owner, { scope: 'openid' });
    const [device] = await sql<{ id: string }>(db.url, 'SELECT id FROM mfa_devices WHERE user_id = $1', [owner.userId]);
    expect(device).toBeDefined();
    const devicesBefore = await allDevices();
    const codesBefore = await allRecoveryCodes();
    const listBefore = await api(server.url, supportSession.accessToken, 'GET', `/accounts/${admin.accountId}/users`);
    expectStatus(listBefore, 200);

    const u = owner.userId;
    const d = device!.id;
    const acc = admin.accountId;
    const guesses = [
      `/users/${u}`,
      `/users/${u}/devices`,
      `/users/${u}/devices/${d}`,
      `/users/${u}/devices/${d}/verify`,
      `/users/${u}/devices/${d}/default`,
      `/users/${u}/mfa`,
      `/users/${u}/mfa/devices`,
      `/users/${u}/mfa/totp`,
      `/users/${u}/mfa/sms`,
      `/users/${u}/enrol`,
      `/users/${u}/enroll`,
      `/users/${u}/totp`,
      `/users/${u}/sms`,
      `/users/${u}/phone`,
      `/users/${u}/recovery-codes`,
      `/users/${u}/verify`,
      `/devices`,
      `/devices/${d}`,
      `/devices/${d}/verify`,
      `/accounts/${acc}/devices`,
      `/accounts/${acc}/users/${u}`,
      `/accounts/${acc}/users/${u}/devices`,
      `/accounts/${acc}/users/${u}/devices/${d}`,
      `/accounts/${acc}/users/${u}/mfa`,
      // The documented resources with methods they do not document.
      `/accounts/${acc}/users`,
      `/accounts/${acc}/mfa-policy`,
      `/accounts/${acc}/audit-events`,
      `/users/${u}/unlock`,
      `/users/${u}/reset-mfa`,
    ];
    const deviceBody = { kind: 'totp', secret: 'JBSWY3DPEHPK3PXP', phone: '+447700900123', nickname: 'Attacker', verified: true, isDefault: true, code: '123456', userId: u };
    const documented = new Set(operations().map((o) => `${o.method.toUpperCase()} ${o.template}`));
    // Without a token, every guessed route is refused before anything else happens.
    for (const p of guesses) expectError(await api(server.url, undefined, 'POST', p, { json: deviceBody }), 401, 'unauthorized');
    const templateOf = (p: string) => p.replace(acc, '{accountId}').replace(u, '{userId}');
    for (const token of [supportSession.accessToken, adminSession.accessToken]) {
      for (const p of guesses) {
        for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
          if (documented.has(`${method} ${templateOf(p)}`)) continue;
          const res = await api(server.url, token, method, p, method === 'GET' ? {} : { json: deviceBody });
          const expected = res.status === 405 ? 'method_not_allowed' : 'not_found';
          if (![404, 405].includes(res.status) || res.json?.error !== expected) throw new Error(`${method} ${p} answered ${res.status}: ${res.text.slice(0, 300)}`);
          expectError(res, res.status, expected);
          if (res.status === 405) expect(res.headers.get('allow')).not.toContain(method);
        }
      }
    }

    // The documented routes that must not touch devices, with device-shaped bodies or fields.
    for (const token of [supportSession.accessToken, adminSession.accessToken]) {
      expect((await api(server.url, token, 'PUT', `/accounts/${acc}/mfa-policy`, { json: { mfaRequired: true, devices: [deviceBody] } })).status).toBe(422);
      expect((await api(server.url, token, 'PUT', `/accounts/${acc}/mfa-policy`, { json: { mfaRequired: true, userId: u, device: deviceBody } })).status).toBe(422);
      for (const q of ['', '?verify=true', `?deviceId=${d}`]) {
        expectStatus(await api(server.url, token, 'GET', `/accounts/${acc}/users${q}`), 200);
        expectStatus(await api(server.url, token, 'GET', `/accounts/${acc}/mfa-policy${q}`), 200);
        expectStatus(await api(server.url, token, 'GET', `/accounts/${acc}/audit-events${q}`), 200);
      }
    }
    // Unlock (support) accepts no device: a body is ignored and nothing about devices changes.
    expectStatus(await api(server.url, supportSession.accessToken, 'POST', `/users/${u}/unlock`, { json: deviceBody }), 204);
    expectStatus(await api(server.url, supportSession.accessToken, 'POST', `/users/${u}/unlock`), 204);

    expect(await allDevices()).toEqual(devicesBefore);
    expect(await allRecoveryCodes()).toEqual(codesBefore);
    const listAfter = await api(server.url, supportSession.accessToken, 'GET', `/accounts/${admin.accountId}/users`);
    expect(listAfter.json).toEqual(listBefore.json);
  });
});

import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { api, enrolAndSignIn, expectError, expectStatus, signInWithPassword, userIn, type SignedIn } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { kindOf, sql, submitPassword } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { openAccount, pathOf, sleep } from '../helpers/self-service.js';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../helpers/smtp-sink.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { csrfToken, UserAgent } from '../helpers/user-agent.js';

/**
 * Turning "Require Multi-Factor" off is a request an account admin files and a different
 * support user decides: the admin API, /account/admin, /support/requests and the mail the
 * requester gets, against the built server, a real SMTP server and real sign-ins.
 */
let db: TestDatabase;
let sink: SmtpSink;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
let support: Fixture;
let supportSession: SignedIn;
let otherSupportSession: SignedIn;

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_disable_requests');
  sink = await startSmtpSink();
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...clusterSecrets(), MAIL_PROVIDER: 'smtp', SMTP_URL: sink.url, MAIL_FROM: 'Twofold <no-reply@twofold.test>' });
  client = await confidentialClient(db.url);
  support = await accountWithUser(db.url, { mfaRequired: true, support: true });
  const otherSupport = await accountWithUser(db.url, { mfaRequired: true, support: true });
  [supportSession, otherSupportSession] = await Promise.all([enrolAndSignIn(server.url, client, support), enrolAndSignIn(server.url, client, otherSupport)]);
});

afterAll(async () => {
  await server?.stop();
  await sink?.close();
  await db?.drop();
});

let n = 0;
/** An account that requires MFA, with an admin (verified address, enrolled, holding an admin token). */
async function accountWithAdmin(): Promise<{ admin: Fixture; email: string; session: SignedIn }> {
  const email = `admin-${++n}-${crypto.randomBytes(3).toString('hex')}@example.test`;
  const admin = await accountWithUser(db.url, { mfaRequired: true, role: 'admin', email });
  return { admin, email, session: await enrolAndSignIn(server.url, client, admin) };
}

const fileRequest = (token: string, accountId: string, reason: unknown = 'Our kiosk accounts cannot carry a phone.') =>
  api(server.url, token, 'POST', `/accounts/${accountId}/mfa-policy/disable-requests`, { json: { reason } });
const decide = (token: string, id: string, action: 'approve' | 'reject', body: Record<string, unknown> = {}) =>
  api(server.url, token, 'POST', `/mfa-policy/disable-requests/${id}/${action}`, { json: body });
const policyOf = async (accountId: string) => {
  const res = await api(server.url, supportSession.accessToken, 'GET', `/accounts/${accountId}/mfa-policy`);
  expectStatus(res, 200);
  return res.json as { mfaRequired: boolean; updatedBy: string | null };
};
const auditTypes = async (accountId: string) => {
  const res = await api(server.url, supportSession.accessToken, 'GET', `/accounts/${accountId}/audit-events?limit=200`);
  expectStatus(res, 200);
  return res.json.events as Array<{ type: string; actorUserId: string | null; subjectUserId: string | null; details: Record<string, unknown> }>;
};

/** Waits until `address` has `count` decision mails (not the enrolment's notices), then a little longer, so that one too many shows. */
async function mailsTo(address: string, count: number): Promise<ReceivedMail[]> {
  const decisions = () => sink.to(address).filter((m) => m.subject.startsWith('Your request to disable'));
  const deadline = Date.now() + 10_000;
  while (decisions().length < count && Date.now() < deadline) await sleep(25);
  await sleep(400);
  return decisions();
}

/** After the password: the page a user without a device meets (the forced enrolment notice, or the app). */
async function afterPasswordOf(user: Fixture) {
  const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
  const { page } = await rp.start({ scope: 'openid' });
  return kindOf(await submitPassword(rp.agent, page, user));
}

describe('disable requests through the admin API', () => {
  test('pending → approved: the requirement is off, a user without a device signs in with the password, the requester is mailed, every step audited', async () => {
    const { admin, email, session } = await accountWithAdmin();
    const plain = await userIn(db.url, admin.accountId);
    expect(await afterPasswordOf(plain)).toBe('notice');

    const filed = await fileRequest(session.accessToken, admin.accountId, '  Kiosk accounts\ncannot carry a phone.  ');
    expectStatus(filed, 201);
    expect(Object.keys(filed.json).sort()).toEqual(['accountId', 'createdAt', 'id', 'reason', 'requestedBy', 'status']);
    expect(filed.json).toMatchObject({ accountId: admin.accountId, status: 'pending', reason: 'Kiosk accounts\ncannot carry a phone.', requestedBy: admin.userId });
    const id = filed.json.id as string;

    const pending = await api(server.url, supportSession.accessToken, 'GET', '/mfa-policy/disable-requests?status=pending');
    expectStatus(pending, 200);
    expect(pending.json.requests).toContainEqual(filed.json);
    // Filing changed nothing yet.
    expect((await policyOf(admin.accountId)).mfaRequired).toBe(true);

    const approved = await decide(supportSession.accessToken, id, 'approve', { note: 'Approved for the kiosk rollout.' });
    expectStatus(approved, 200);
    expect(approved.json).toMatchObject({ id, status: 'approved', decidedBy: support.userId, note: 'Approved for the kiosk rollout.', reason: filed.json.reason });
    expect(new Date(approved.json.decidedAt as string).getTime()).toBeGreaterThanOrEqual(new Date(filed.json.createdAt as string).getTime());
    expect(await policyOf(admin.accountId)).toMatchObject({ mfaRequired: false, updatedBy: support.userId });

    // The user without a device now gets tokens with the password alone.
    const { tokens } = await signInWithPassword(server.url, client, plain, { scope: 'openid' });
    expect(tokens.id_token).toBeDefined();

    const [mail, ...more] = await mailsTo(email, 1);
    expect(more).toHaveLength(0);
    expect(mail!.subject).toBe('Your request to disable multi-factor authentication was approved');
    expect(mail!.text).toContain('Approved for the kiosk rollout.');
    expect(mail!.text).toContain('Kiosk accounts');

    const events = await auditTypes(admin.accountId);
    const filedEvent = events.find((e) => e.type === 'policy.disable_requested');
    const approvedEvent = events.find((e) => e.type === 'policy.disable_approved');
    expect(filedEvent).toMatchObject({ actorUserId: admin.userId, details: { requestId: id } });
    expect(approvedEvent).toMatchObject({ actorUserId: support.userId, subjectUserId: admin.userId, details: { requestId: id, note: 'Approved for the kiosk rollout.' } });
    expect(events.find((e) => e.type === 'policy.changed')).toMatchObject({ actorUserId: support.userId, details: { mfaRequired: false, previous: true, requestId: id } });

    // Decided once: neither decision can be made again.
    expectError(await decide(otherSupportSession.accessToken, id, 'reject'), 409, 'conflict');
    expectError(await decide(supportSession.accessToken, id, 'approve'), 409, 'conflict');
    // And the account now has nothing to ask for.
    expectError(await fileRequest(session.accessToken, admin.accountId), 409, 'conflict');

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/twofold_mfa_disable_requests_total\{event="filed"\} [1-9]/);
    expect(metrics).toMatch(/twofold_mfa_disable_requests_total\{event="approved"\} [1-9]/);
  });

  test('rejected: the requirement stays on, a user without a device must still enrol, the requester is told with the note', async () => {
    const { admin, email, session } = await accountWithAdmin();
    const plain = await userIn(db.url, admin.accountId);
    const filed = await fileRequest(session.accessToken, admin.accountId);
    expectStatus(filed, 201);
    const rejected = await decide(supportSession.accessToken, filed.json.id as string, 'reject', { note: 'Use recovery codes for kiosks.' });
    expectStatus(rejected, 200);
    expect(rejected.json).toMatchObject({ status: 'rejected', decidedBy: support.userId, note: 'Use recovery codes for kiosks.' });
    expect((await policyOf(admin.accountId)).mfaRequired).toBe(true);
    expect(await afterPasswordOf(plain)).toBe('notice');

    const [mail] = await mailsTo(email, 1);
    expect(mail!.subject).toBe('Your request to disable multi-factor authentication was rejected');
    expect(mail!.text).toContain('Use recovery codes for kiosks.');
    expect(mail!.html).toContain('Use recovery codes for kiosks.');
    const events = await auditTypes(admin.accountId);
    expect(events.find((e) => e.type === 'policy.disable_rejected')).toMatchObject({ actorUserId: support.userId, details: { requestId: filed.json.id } });
    expect(events.some((e) => e.type === 'policy.changed')).toBe(false);

    const listed = await api(server.url, supportSession.accessToken, 'GET', '/mfa-policy/disable-requests?status=rejected');
    expect((listed.json.requests as Array<{ id: string }>).map((r) => r.id)).toContain(filed.json.id);
    const stillPending = await api(server.url, supportSession.accessToken, 'GET', '/mfa-policy/disable-requests?status=pending');
    expect((stillPending.json.requests as Array<{ id: string }>).map((r) => r.id)).not.toContain(filed.json.id);

    // Once decided, the admin may ask again.
    expectStatus(await fileRequest(session.accessToken, admin.accountId), 201);
  });

  test('one open request per account: a second one is 409 request_pending, also when filed in parallel', async () => {
    const { admin, session } = await accountWithAdmin();
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => fileRequest(session.accessToken, admin.accountId, `Reason ${i}`)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 201)) expectError(r, 409, 'request_pending');
    expectError(await fileRequest(session.accessToken, admin.accountId), 409, 'request_pending');
    const rows = await sql(db.url, "SELECT id FROM mfa_disable_requests WHERE account_id = $1 AND status = 'pending'", [admin.accountId]);
    expect(rows).toHaveLength(1);
  });

  test('parallel approve and reject: exactly one decision wins, the policy and the one mail follow it', async () => {
    const { admin, email, session } = await accountWithAdmin();
    const filed = await fileRequest(session.accessToken, admin.accountId);
    const id = filed.json.id as string;
    const results = await Promise.all([
      decide(supportSession.accessToken, id, 'approve'),
      decide(otherSupportSession.accessToken, id, 'reject'),
      decide(supportSession.accessToken, id, 'reject'),
      decide(otherSupportSession.accessToken, id, 'approve'),
    ]);
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) expectError(r, 409, 'conflict');
    const outcome = winners[0]!.json.status as string;
    const [row] = await sql<{ status: string; decided_by: string }>(db.url, 'SELECT status, decided_by FROM mfa_disable_requests WHERE id = $1', [id]);
    expect(row!.status).toBe(outcome);
    expect((await policyOf(admin.accountId)).mfaRequired).toBe(outcome !== 'approved');
    expect(await mailsTo(email, 1)).toHaveLength(1);
    const decisions = (await auditTypes(admin.accountId)).filter((e) => e.type === 'policy.disable_approved' || e.type === 'policy.disable_rejected');
    expect(decisions).toHaveLength(1);
  });

  test('no one decides their own request or their own account: requester (also support), the account admin, a support member of the account', async () => {
    const { admin, session } = await accountWithAdmin();
    const supportMember = await userIn(db.url, admin.accountId, { support: true });
    const memberSession = await enrolAndSignIn(server.url, client, supportMember);

    const filed = await fileRequest(session.accessToken, admin.accountId);
    const id = filed.json.id as string;
    // The account's admin (the requester) is not support.
    expectError(await decide(session.accessToken, id, 'approve'), 403, 'support_required');
    expectError(await api(server.url, session.accessToken, 'GET', '/mfa-policy/disable-requests'), 403, 'support_required');
    // A support user who belongs to the account.
    expectError(await decide(memberSession.accessToken, id, 'approve'), 403, 'self_approval');
    expectError(await decide(memberSession.accessToken, id, 'reject'), 403, 'self_approval');
    // The request is still open; a support user of another account may decide it.
    expect((await sql<{ status: string }>(db.url, 'SELECT status FROM mfa_disable_requests WHERE id = $1', [id]))[0]!.status).toBe('pending');

    // Support may file for another account, and then cannot decide what they filed.
    expectStatus(await decide(supportSession.accessToken, id, 'reject'), 200);
    const bySupport = await fileRequest(otherSupportSession.accessToken, admin.accountId, 'Asked by the customer on the phone.');
    expectStatus(bySupport, 201);
    expectError(await decide(otherSupportSession.accessToken, bySupport.json.id as string, 'approve'), 403, 'self_approval');
    expectStatus(await decide(supportSession.accessToken, bySupport.json.id as string, 'reject', { note: 'Ask the admin to file it.' }), 200);

    // An admin of another account files nothing here.
    const other = await accountWithAdmin();
    expectError(await fileRequest(other.session.accessToken, admin.accountId), 403, 'forbidden');
    // The table itself refuses a decision by the requester.
    const [own] = await sql<{ id: string }>(db.url, "INSERT INTO mfa_disable_requests (account_id, requested_by, reason) VALUES ($1, $2, 'x') RETURNING id", [
      other.admin.accountId,
      other.admin.userId,
    ]);
    await expect(sql(db.url, "UPDATE mfa_disable_requests SET status = 'approved', decided_by = requested_by, decided_at = now() WHERE id = $1", [own!.id])).rejects.toThrow(
      /mfa_disable_requests_not_own/,
    );
  });

  test('bad input: 422 for reasons and notes that are empty, too long, not text or with control characters; 404 for unknown or malformed ids', async () => {
    const { admin, session } = await accountWithAdmin();
    const path = `/accounts/${admin.accountId}/mfa-policy/disable-requests`;
    for (const json of [
      {},
      { reason: '' },
      { reason: '   ' },
      { reason: 'x'.repeat(1001) },
      { reason: 42 },
      { reason: ['a'] },
      { reason: 'a\u0000b' },
      { reason: 'a\u001bb' },
      { reason: 'ok', extra: 1 },
      [],
      'x',
      null,
    ]) {
      expectError(await api(server.url, session.accessToken, 'POST', path, { json }), 422, 'validation_failed');
    }
    expectError(
      await api(server.url, session.accessToken, 'POST', path, { raw: { body: 'reason=x', contentType: 'application/x-www-form-urlencoded' } }),
      415,
      'unsupported_media_type',
    );
    expectError(await api(server.url, session.accessToken, 'POST', path, { raw: { body: '{"reason":', contentType: 'application/json' } }), 400, 'bad_request');
    expectStatus(await api(server.url, session.accessToken, 'POST', path, { json: { reason: 'é'.repeat(1000) } }), 201);
    const [{ id }] = (await api(server.url, supportSession.accessToken, 'GET', '/mfa-policy/disable-requests?status=pending')).json.requests.filter(
      (r: { accountId: string }) => r.accountId === admin.accountId,
    );

    for (const json of [{ note: 'x'.repeat(1001) }, { note: 3 }, { note: 'a\u0007b' }, { verdict: 'approve' }, []]) {
      expectError(await decide(supportSession.accessToken, id, 'approve', json as Record<string, unknown>), 422, 'validation_failed');
    }
    for (const bad of [crypto.randomUUID(), 'not-a-uuid', '1', `${id}x`, '%00', '..%2F..%2Fx']) {
      expectError(await decide(supportSession.accessToken, bad, 'approve'), 404, 'not_found');
    }
    for (const q of ['?status=open', '?status=', '?status=pending&status=approved', '?status=%00']) {
      expectError(await api(server.url, supportSession.accessToken, 'GET', `/mfa-policy/disable-requests${q}`), 422, 'validation_failed');
    }
    expectError(await fileRequest(session.accessToken, crypto.randomUUID()), 403, 'forbidden');
    expectError(await fileRequest(supportSession.accessToken, crypto.randomUUID()), 404, 'not_found');
    expectError(await fileRequest(supportSession.accessToken, 'nope'), 404, 'not_found');
    // Nothing of the refused attempts was decided.
    expect((await sql<{ status: string }>(db.url, 'SELECT status FROM mfa_disable_requests WHERE id = $1', [id]))[0]!.status).toBe('pending');
  });
});

describe('disable requests on the hosted pages', () => {
  test('/account/admin: Request to disable with a Reason, then Pending support review; /support/requests: Approve with a Note', async () => {
    const { admin, email, session } = await accountWithAdmin();
    const agent = new UserAgent();
    const { page } = await openAccount(agent, server.url, admin, { app: session.app, path: '/account/admin' });
    expect(page.html).toContain('<label for="disable-reason">Reason</label>');
    expect(page.html).toMatch(/<button[^>]*>\s*Request to disable\s*<\/button>/);
    expect(page.html).not.toContain('Pending support review');

    const after = await agent.submit(page, '/account/admin/disable-request', { reason: 'Shared reception terminal.' });
    expect(after.status).toBe(200);
    expect(pathOf(after)).toBe('/account/admin');
    expect(after.html).toContain('Pending support review');
    expect(after.html).not.toMatch(/<button[^>]*>\s*Request to disable\s*<\/button>/);
    // A second one from the page is refused, as from the API.
    const again = await agent.request(`${server.url}/account/admin/disable-request`, { form: { _csrf: csrfToken(page), reason: 'Again' } });
    expect(again.status).toBe(409);

    const supportAgent = new UserAgent();
    const { page: queue } = await openAccount(supportAgent, server.url, support, { app: supportSession.app, path: '/support/requests' });
    const [row] = await sql<{ id: string }>(db.url, "SELECT id FROM mfa_disable_requests WHERE account_id = $1 AND status = 'pending'", [admin.accountId]);
    expect(queue.html).toContain('Shared reception terminal.');
    expect(queue.html).toContain(admin.username);
    expect(queue.html).toContain(`<label for="note-${row!.id}">Note</label>`);
    expect(queue.html).toMatch(/<button[^>]*>\s*Approve\s*<\/button>/);
    expect(queue.html).toMatch(/<button[^>]*formaction="\/support\/requests\/[^"]+\/reject"[^>]*>\s*Reject\s*<\/button>/);

    const decided = await supportAgent.submit(queue, `/support/requests/${row!.id}/approve`, { note: 'Fine for reception.' });
    expect(decided.status).toBe(200);
    expect(decided.html).toContain('The request was approved');
    expect(decided.html).not.toContain('Shared reception terminal.');
    expect((await policyOf(admin.accountId)).mfaRequired).toBe(false);
    const [mail] = await mailsTo(email, 1);
    expect(mail!.text).toContain('Fine for reception.');

    // The admin's page: the requirement is off, nothing pending.
    const adminPage = await agent.request(`${server.url}/account/admin`);
    expect(adminPage.html).toMatch(/Require Multi-Factor: <strong>Disabled<\/strong>/);
    expect(adminPage.html).not.toContain('Pending support review');
  });

  test('/support/requests: a request of the support user’s own account shows no buttons, and posting a decision anyway is refused', async () => {
    const { admin, session } = await accountWithAdmin();
    const member = await userIn(db.url, admin.accountId, { support: true });
    const memberSession = await enrolAndSignIn(server.url, client, member);
    const agent = new UserAgent();
    // On their own account's admin page, support cannot turn the requirement off either: they ask.
    const { page: own } = await openAccount(agent, server.url, member, { app: memberSession.app, path: '/account/admin' });
    expect(own.html).toMatch(/<input id="mfa-disabled"[^>]*disabled>/);
    expect(own.html).toMatch(/<button[^>]*>\s*Request to disable\s*<\/button>/);
    const filed = await fileRequest(session.accessToken, admin.accountId, 'Member test.');
    const { page } = await openAccount(agent, server.url, member, { app: memberSession.app, path: '/support/requests' });
    expect(page.html).toContain('Member test.');
    expect(page.html).toContain('This request is for your own account');
    expect(page.html).not.toContain(`/support/requests/${filed.json.id}/approve`);
    const refused = await agent.request(`${server.url}/support/requests/${filed.json.id}/approve`, { form: { _csrf: csrfToken(page), note: '' } });
    expect(refused.status).toBe(403);
    expect((await policyOf(admin.accountId)).mfaRequired).toBe(true);
    // Without the CSRF token: refused before anything else.
    const noCsrf = await agent.request(`${server.url}/support/requests/${filed.json.id}/reject`, { form: { note: '' } });
    expect(noCsrf.status).toBe(403);
    expect((await sql<{ status: string }>(db.url, 'SELECT status FROM mfa_disable_requests WHERE id = $1', [filed.json.id]))[0]!.status).toBe('pending');
  });
});

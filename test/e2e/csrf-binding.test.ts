import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { expectKind, interactionUid, sql } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { expectAccountPage, openAccount } from '../helpers/self-service.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { csrfToken, formAction, UserAgent, type Page } from '../helpers/user-agent.js';

/**
 * A CSRF token is good only for what it was issued for: the interaction (/interaction/:uid) or
 * the signed-in /account session whose page showed it. An attacker who visits the site gets a
 * CSRF cookie value and a token for it, and can plant that cookie in a victim's browser from a
 * sibling subdomain: that token must still not fit the victim's sign-in or session.
 */
let db: TestDatabase;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
let attacker: Fixture;
let victim: Fixture;

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_csrf_binding');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...clusterSecrets() });
  client = await confidentialClient(db.url);
  [attacker, victim] = await Promise.all([accountWithUser(db.url, { mfaRequired: false }), accountWithUser(db.url, { mfaRequired: false })]);
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

const CSRF_COOKIE = 'twofold.csrf';

/** The value of a cookie `agent` sends to `url`. */
function cookieOf(agent: UserAgent, url: string, name: string): string {
  const pair = agent
    .cookiesFor(url)
    .split('; ')
    .find((c) => c.startsWith(`${name}=`));
  if (!pair) throw new Error(`no ${name} cookie for ${url}`);
  return pair.slice(name.length + 1);
}

/** `agent`'s cookies for `url`, with the CSRF cookie replaced by a planted value. */
function withPlantedCsrf(agent: UserAgent, url: string, planted: string): string {
  const others = agent
    .cookiesFor(url)
    .split('; ')
    .filter((c) => c && !c.startsWith(`${CSRF_COOKIE}=`));
  return [...others, `${CSRF_COOKIE}=${planted}`].join('; ');
}

/** A form POST sent exactly as given (no redirects followed). */
async function post(url: string, cookie: string, form: Record<string, string>): Promise<{ status: number; location: string | null; body: string }> {
  const res = await fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

const loginUrl = (page: Page) => new URL(formAction(page, '/login'), page.url).toString();

async function lastLoginOf(user: Fixture): Promise<number> {
  const rows = await sql<{ n: string }>(db.url, "SELECT count(*) AS n FROM audit_events WHERE type = 'login.password_ok' AND subject_user_id = $1", [user.userId]);
  return Number(rows[0]!.n);
}

function expectRefused(answer: { status: number; location: string | null; body: string }): void {
  if (answer.status !== 403) throw new Error(`expected the CSRF refusal (403), got ${answer.status} ${answer.location ?? ''}\n${answer.body.slice(0, 800)}`);
  expect(answer.location).toBeNull();
  expect(answer.body).toContain('This form has expired');
}

describe('CSRF tokens of the hosted sign-in pages', () => {
  test('a token shown in interaction A is refused in interaction B of the same browser (same CSRF cookie)', async () => {
    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page: pageA } = await rp.start();
    const { page: pageB } = await rp.start();
    expectKind(pageA, 'login');
    expectKind(pageB, 'login');
    expect(interactionUid(pageA)).not.toBe(interactionUid(pageB));
    expect(cookieOf(rp.agent, pageA.url, CSRF_COOKIE)).toBe(cookieOf(rp.agent, pageB.url, CSRF_COOKIE));

    const before = await lastLoginOf(victim);
    const credentials = { username: victim.username, password: victim.password };
    expectRefused(await post(loginUrl(pageB), rp.agent.cookiesFor(loginUrl(pageB)), { _csrf: csrfToken(pageA), ...credentials }));
    expect(await lastLoginOf(victim)).toBe(before);
    // Control: B's own token signs in.
    const ok = await post(loginUrl(pageB), rp.agent.cookiesFor(loginUrl(pageB)), { _csrf: csrfToken(pageB), ...credentials });
    expect(ok.status).toBe(303);
    expect(await lastLoginOf(victim)).toBe(before + 1);
  });

  test("an attacker's cookie and token, planted in the victim's browser, do not fit the victim's interaction (login CSRF)", async () => {
    // The attacker's own visit: a CSRF cookie value and the token shown with it.
    const attackerRp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page: attackerPage } = await attackerRp.start();
    const plantedValue = cookieOf(attackerRp.agent, attackerPage.url, CSRF_COOKIE);
    const plantedToken = csrfToken(attackerPage);

    // The victim's sign-in, with the attacker's cookie planted; the attacker's credentials posted.
    const victimRp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page: victimPage } = await victimRp.start();
    const url = loginUrl(victimPage);
    const before = await lastLoginOf(attacker);
    expectRefused(await post(url, withPlantedCsrf(victimRp.agent, url, plantedValue), { _csrf: plantedToken, username: attacker.username, password: attacker.password }));
    expect(await lastLoginOf(attacker)).toBe(before);
  });
});

describe('CSRF tokens of /account', () => {
  test("a token of one signed-in session is refused in another session, even with that session's CSRF cookie planted", async () => {
    const laptop = new UserAgent();
    const phone = new UserAgent();
    const { page: laptopHome } = await openAccount(laptop, server.url, victim);
    const { page: phoneHome } = await openAccount(phone, server.url, victim);
    expectAccountPage(laptopHome);
    expectAccountPage(phoneHome);
    const logoutUrl = `${server.url}/account/logout`;

    // The laptop's cookie value and token, planted and posted in the phone's session: refused.
    const planted = withPlantedCsrf(phone, logoutUrl, cookieOf(laptop, logoutUrl, CSRF_COOKIE));
    expectRefused(await post(logoutUrl, planted, { _csrf: csrfToken(laptopHome) }));
    // The phone is still signed in.
    expectAccountPage(await phone.request(`${server.url}/account`));

    // Another user's session token (the attacker's), planted the same way: refused.
    const attackerBrowser = new UserAgent();
    const { page: attackerHome } = await openAccount(attackerBrowser, server.url, attacker);
    const plantedByAttacker = withPlantedCsrf(phone, logoutUrl, cookieOf(attackerBrowser, logoutUrl, CSRF_COOKIE));
    expectRefused(await post(logoutUrl, plantedByAttacker, { _csrf: csrfToken(attackerHome) }));
    expectAccountPage(await phone.request(`${server.url}/account`));

    // Control: the phone's own token signs the phone out.
    const own = await post(logoutUrl, phone.cookiesFor(logoutUrl), { _csrf: csrfToken(phoneHome) });
    expect(own.status).toBe(303);
    expect(own.location).toContain('/session/end');
  });
});

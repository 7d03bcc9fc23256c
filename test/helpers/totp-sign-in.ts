import { RelyingParty, callbackOf } from './relying-party.js';
import { otpauthUri, type Page } from './user-agent.js';
import { secretFromUri, totp } from './rfc6238.js';

/**
 * Drives a sign-in that forces TOTP enrolment (account requires MFA, user has no device) and
 * returns the tokens plus the enrolled secret. Codes come from the test's own RFC 6238 code.
 */
export async function signInEnrollingTotp(rp: RelyingParty, username: string, password: string, params: Record<string, string> = {}) {
  const { page, finish } = await rp.start(params);
  const notice = await rp.agent.submit(page, '/login', { username, password });
  const choose = await rp.agent.submit(notice, '/enrol');
  const start = await rp.agent.submit(choose, '/enrol/method', { method: 'totp' });
  const enrol = await rp.agent.submit(start, '/enrol/begin', { method: 'totp', nickname: 'Test phone' });
  const secret = secretFromUri(otpauthUri(enrol));
  const done = await rp.agent.submit(enrol, '/enrol/verify', { code: totp(secret) });
  const next = await continueConsent(rp, done);
  return { tokens: await finish(callbackOf(next)), secret };
}

/** A later sign-in with the TOTP device; `offsetSteps` picks an unused time step (±1 accepted). */
export async function signInWithTotp(rp: RelyingParty, username: string, password: string, secret: string, params: Record<string, string> = {}, offsetSteps = 1) {
  const { page, finish } = await rp.start(params);
  const challenge = page.html.includes('name="password"') ? await rp.agent.submit(page, '/login', { username, password }) : page;
  const done = await rp.agent.submit(challenge, '/mfa', { code: totp(secret, Date.now() + offsetSteps * 30_000) });
  const next = await continueConsent(rp, done);
  return finish(callbackOf(next));
}

/** Clicks "Continue" on a consent page when the client is not first-party. */
export async function continueConsent(rp: RelyingParty, page: Page): Promise<Page> {
  return page.status !== 0 && page.html.includes('/consent"') ? rp.agent.submit(page, '/consent') : page;
}

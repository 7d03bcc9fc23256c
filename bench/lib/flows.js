// What one virtual user does: the authorization code + PKCE flow through a provider's pages up
// to the token response, a refresh-token grant, a discovery or JWKS fetch. Each throws on any
// unexpected answer, so a "success" is a real sign-in.
import crypto from 'node:crypto';
import { Browser, formAction, request, submit, decodeEntities } from './http.js';
import { Authenticator } from './totp.js';

export const RP_REDIRECT = 'http://rp.test/callback';
const stopAtRp = (url) => url.host === 'rp.test';

function b64u(buf) {
  return buf.toString('base64url');
}

/** A fresh authorization request (PKCE S256, state, nonce). */
function authorization(target) {
  const verifier = b64u(crypto.randomBytes(32));
  const state = b64u(crypto.randomBytes(12));
  const nonce = b64u(crypto.randomBytes(12));
  const q = new URLSearchParams({
    client_id: target.clientId,
    response_type: 'code',
    scope: 'openid profile',
    redirect_uri: RP_REDIRECT,
    code_challenge: b64u(crypto.createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return { url: `${target.issuer}/auth?${q}`, verifier, state };
}

function basic(target) {
  return `Basic ${Buffer.from(`${encodeURIComponent(target.clientId)}:${encodeURIComponent(target.clientSecret)}`).toString('base64')}`;
}

async function tokenRequest(agent, target, params) {
  const res = await request(agent, `${target.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(target), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(params).toString(),
  });
  if (res.status !== 200) throw new Error(`token endpoint ${res.status}: ${res.body.slice(0, 200)}`);
  const json = JSON.parse(res.body);
  if (!json.access_token || !json.id_token) throw new Error('token response without access_token/id_token');
  return json;
}

/** The callback reached: checks state, then redeems the code (with the PKCE verifier). */
async function finish(agent, target, page, auth) {
  if (page.status !== 0) {
    throw new Error(`expected the redirect to the RP, got ${page.status} ${page.url.pathname}: ${page.body.slice(0, 300).replace(/\s+/g, ' ')}`);
  }
  const cb = page.url.searchParams;
  if (cb.get('error')) throw new Error(`RP got error ${cb.get('error')}: ${cb.get('error_description')}`);
  if (cb.get('state') !== auth.state) throw new Error('state mismatch');
  return tokenRequest(agent, target, { grant_type: 'authorization_code', code: cb.get('code'), redirect_uri: RP_REDIRECT, code_verifier: auth.verifier });
}

/** Scenario A: bare oidc-provider's trivial interaction (form, then POST logs in). */
export async function bareLogin(agent, target) {
  const browser = new Browser(agent, stopAtRp);
  const auth = authorization(target);
  const form = await browser.go(auth.url);
  if (form.status !== 200) throw new Error(`interaction page ${form.status}`);
  const done = await browser.go(formAction(form, '/login'), { form: {} });
  return { tokens: await finish(agent, target, done, auth), requests: browser.requests + 1 };
}

/** Scenario B: Twofold, password only (account without the MFA requirement). */
export async function passwordLogin(agent, target, user) {
  const browser = new Browser(agent, stopAtRp);
  const auth = authorization(target);
  const login = await browser.go(auth.url);
  if (login.status !== 200 || !login.body.includes('name="password"')) throw new Error(`expected the login page, got ${login.status}`);
  const done = await submit(browser, login, '/login', { username: user.username, password: user.password });
  return { tokens: await finish(agent, target, done, auth), requests: browser.requests + 1 };
}

/**
 * Scenario B: Twofold, password + TOTP challenge. `takeCode` is called when the challenge page
 * is shown and returns a code of an unused time step of the user's device.
 */
export async function totpLogin(agent, target, user, takeCode) {
  const browser = new Browser(agent, stopAtRp);
  const auth = authorization(target);
  const login = await browser.go(auth.url);
  if (login.status !== 200 || !login.body.includes('name="password"')) throw new Error(`expected the login page, got ${login.status}`);
  const challenge = await submit(browser, login, '/login', { username: user.username, password: user.password });
  if (challenge.status !== 200 || !challenge.body.includes('<label for="code">MFA Code</label>')) {
    throw new Error(`expected the MFA challenge, got ${challenge.status}: ${challenge.body.slice(0, 300).replace(/\s+/g, ' ')}`);
  }
  const done = await submit(browser, challenge, '/mfa', { code: takeCode() });
  return { tokens: await finish(agent, target, done, auth), requests: browser.requests + 1 };
}

/**
 * Setup: the real forced enrolment of a Mobile Passcode (account requires MFA, user has no
 * device): password, notice, "Mobile Passcode", nickname, QR page, first code. Returns the
 * user's authenticator app (with the enrolment's time step used).
 */
export async function enrolTotp(agent, target, user) {
  const browser = new Browser(agent, stopAtRp);
  const auth = authorization(target);
  const login = await browser.go(auth.url);
  const notice = await submit(browser, login, '/login', { username: user.username, password: user.password });
  const choose = await submit(browser, notice, '/enrol');
  const start = await submit(browser, choose, '/enrol/method', { method: 'totp' });
  const enrol = await submit(browser, start, '/enrol/begin', { method: 'totp', nickname: 'Bench phone' });
  const m = enrol.body.match(/href="(otpauth:\/\/[^"]+)"/);
  if (!m) throw new Error(`no otpauth link on the enrolment page (${enrol.status})`);
  const secret = new URL(decodeEntities(m[1])).searchParams.get('secret');
  const app = new Authenticator(secret);
  const code = app.reserve();
  if (!code) throw new Error('no time step available for the enrolment code');
  const done = await submit(browser, enrol, '/enrol/verify', { code });
  await finish(agent, target, done, auth);
  return app;
}

/** Refresh-token grant (rotating): returns the new refresh token. */
export async function refresh(agent, target, refreshToken) {
  const json = await tokenRequest(agent, target, { grant_type: 'refresh_token', refresh_token: refreshToken });
  if (!json.refresh_token) throw new Error('refresh response without a new refresh_token');
  return json.refresh_token;
}

/** GET of a JSON document (discovery, JWKS); the body is read and dropped. */
export async function getDocument(agent, url) {
  const res = await request(agent, url, { headers: { accept: 'application/json' }, wantBody: false });
  if (res.status !== 200) throw new Error(`GET ${new URL(url).pathname} ${res.status}`);
}

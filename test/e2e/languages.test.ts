import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { RelyingParty } from '../helpers/relying-party.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { UserAgent } from '../helpers/user-agent.js';

let db: TestDatabase;
let server: TwofoldProcess;
let user: Fixture;
let client: { clientId: string; clientSecret: string };

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_lang');
  server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, ...clusterSecrets() });
  user = await accountWithUser(db.url, { mfaRequired: false });
  client = await confidentialClient(db.url);
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

const htmlLang = (html: string) => /<html lang="([^"]*)" dir="([^"]*)">/.exec(html)?.slice(1);

/** The sign-in page's language for a browser with these headers (and cookies, after `prepare`). */
async function signInPageLanguage(params: Record<string, string>, headers: Record<string, string> = {}, prepare?: (agent: UserAgent, rp: RelyingParty) => Promise<void>) {
  const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
  rp.agent.headers = headers;
  await prepare?.(rp.agent, rp);
  const { page } = await rp.start(params);
  expect(page.status).toBe(200);
  return { lang: htmlLang(page.html), html: page.html };
}

describe('languages, chosen the OpenID Connect way', () => {
  test('discovery lists the supported ui_locales', async () => {
    const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery.ui_locales_supported).toEqual(['en', 'de', 'fr', 'es', 'ar']);
    expect(discovery.claim_types_supported).toEqual(['normal']);
  });

  test('ui_locales beats the picker cookie, which beats Accept-Language, which beats the default', async () => {
    const pick = (tag: string) => async (agent: UserAgent) => {
      const res = await agent.request(`${server.url}/language?lang=${tag}&return=/healthz`);
      expect(res.url).toContain('/healthz');
    };
    const german = await signInPageLanguage({ ui_locales: 'ja de-CH' }, { 'accept-language': 'es' }, pick('fr'));
    expect(german.lang).toEqual(['de', 'ltr']);
    expect(german.html).toContain('<label for="username">Benutzername</label>');
    expect(german.html).toMatch(/<button[^>]*>Anmelden<\/button>/);

    expect((await signInPageLanguage({}, { 'accept-language': 'es' }, pick('fr'))).lang).toEqual(['fr', 'ltr']);
    expect((await signInPageLanguage({}, { 'accept-language': 'ja, es;q=0.9, de;q=0.5' })).lang).toEqual(['es', 'ltr']);
    expect((await signInPageLanguage({})).lang).toEqual(['en', 'ltr']);
  });

  test('Arabic pages are right to left; the picker lists every language in its own name', async () => {
    const { lang, html } = await signInPageLanguage({ ui_locales: 'ar' });
    expect(lang).toEqual(['ar', 'rtl']);
    expect(html).toContain('<label for="language-picker">اللغة</label>');
    for (const name of ['English', 'Deutsch', 'Français', 'Español', 'العربية']) expect(html).toContain(`>${name}</option>`);
  });

  test('garbage in ui_locales, the cookie or Accept-Language falls back and never errors', async () => {
    const garbage = ['', '*', 'x'.repeat(3000), 'de;q=abc', '\u00e9\u00e9', ';;;,,,', 'en-', '-', '12', 'de'.repeat(40)];
    for (const value of garbage) {
      const cookie = encodeURIComponent(value);
      const { lang } = await signInPageLanguage({ ui_locales: value }, { 'accept-language': value.replace(/[^\x20-\x7e]/g, ''), cookie: `twofold_lang=${cookie}` });
      expect(lang).toEqual(['en', 'ltr']);
    }
  });

  test('the picker only stores a supported language and only returns to this site', async () => {
    const agent = new UserAgent(() => false);
    const picked = await fetch(`${server.url}/language?lang=klingon&return=//evil.example/`, { redirect: 'manual' });
    expect(picked.status).toBe(303);
    expect(picked.headers.get('location')).toBe('/account');
    expect(picked.headers.getSetCookie().join()).not.toContain('twofold_lang');
    const good = await fetch(`${server.url}/language?lang=de-AT&return=%2Finteraction%2Fabc`, { redirect: 'manual' });
    expect(good.headers.get('location')).toBe('/interaction/abc');
    expect(good.headers.getSetCookie().join()).toMatch(/twofold_lang=de;.*httponly/i);
    const odd = await agent.request(`${server.url}/language?lang[]=de&return[]=x`);
    expect(odd.status).toBeLessThan(500);
  });

  test('the password-reset pages and error pages speak the chosen language too', async () => {
    const reset = await fetch(`${server.url}/password-reset`, { headers: { 'accept-language': 'de-DE,de;q=0.9' } });
    const html = await reset.text();
    expect(htmlLang(html)).toEqual(['de', 'ltr']);
    expect(html).toMatch(/<button[^>]*>Link zum Zurücksetzen senden<\/button>/);
    expect(reset.headers.get('vary')).toMatch(/accept-language/i);

    const badLink = await (await fetch(`${server.url}/password-reset/${'x'.repeat(43)}`, { headers: { 'accept-language': 'fr' } })).text();
    expect(badLink).toContain('Ce lien de réinitialisation n’est plus valide.');

    const missing = await fetch(`${server.url}/no-such-page`, { headers: { 'accept-language': 'ar', accept: 'text/html' } });
    expect(missing.status).toBe(404);
    const missingHtml = await missing.text();
    expect(htmlLang(missingHtml)).toEqual(['ar', 'rtl']);
    expect(missingHtml).toContain('لا يوجد شيء على هذا العنوان.');

    // JSON answers keep their stable codes; the admin API's messages stay English, the pages' own calls follow the page.
    const admin = await (await fetch(`${server.url}/admin/v1/accounts/x/users`, { headers: { 'accept-language': 'de' } })).json();
    expect(admin).toEqual({ error: 'unauthorized', message: 'Send an admin access token: Authorization: Bearer <token>.' });
    const page = await (await fetch(`${server.url}/no-such-page`, { headers: { 'accept-language': 'de', accept: 'application/json' } })).json();
    expect(page).toEqual({ error: 'not_found', message: 'Unter dieser Adresse gibt es nichts.' });
  });

  test('a sign-in in German completes (the language never gets in the way of the flow)', async () => {
    const rp = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
    const { page } = await rp.start({ ui_locales: 'de' });
    const next = await rp.agent.submit(page, '/login', { username: user.username, password: 'wrong password' });
    expect(next.status).toBe(401);
    expect(htmlLang(next.html)).toEqual(['de', 'ltr']);
  });
});

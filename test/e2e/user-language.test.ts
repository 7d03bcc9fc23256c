import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { RELAXED_SMS_LIMITS, startFakeVonage, vonageSettings, type FakeVonage } from '../helpers/fake-vonage.js';
import { expectKind, sql, submitPassword } from '../helpers/mfa.js';
import { accountWithUser, confidentialClient, type Fixture } from '../helpers/provision.js';
import { callbackOf, RelyingParty } from '../helpers/relying-party.js';
import { openAccount, postAccount, sleep } from '../helpers/self-service.js';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../helpers/smtp-sink.js';
import { clusterSecrets, REDIS_URL, startTwofold, type TwofoldProcess } from '../helpers/twofold-server.js';
import { UserAgent } from '../helpers/user-agent.js';

/**
 * The language a user chose travels with them: pages follow ui_locales and the picker, the
 * choice is kept on the user at the end of the sign-in, and SMS texts sent later (a login code
 * on a page whose language was only guessed) use it, and so do the mails a user gets, even when
 * someone else (support) caused them from a page in another language.
 */
let db: TestDatabase;
let fake: FakeVonage;
let sink: SmtpSink;
let server: TwofoldProcess;
let client: { clientId: string; clientSecret: string };
let user: Fixture;
const digits = '447911123457';

beforeAll(async () => {
  db = await createTestDatabase('twofold_e2e_ulang');
  fake = await startFakeVonage();
  sink = await startSmtpSink();
  server = await startTwofold({
    DATABASE_URL: db.url,
    REDIS_URL,
    ...clusterSecrets(),
    ...vonageSettings(fake),
    ...RELAXED_SMS_LIMITS,
    MAIL_PROVIDER: 'smtp',
    SMTP_URL: sink.url,
  });
  client = await confidentialClient(db.url, { firstParty: true });
  user = await accountWithUser(db.url, { mfaRequired: true });
});

afterAll(async () => {
  await server?.stop();
  await fake?.close();
  await sink?.close();
  await db?.drop();
});

const latestText = () => fake.messages.filter((m) => m.to === digits).at(-1)?.text ?? '';
const codeIn = (text: string, length: number) => text.match(new RegExp(`\\b(\\d{${length}})\\b`))?.[1] ?? '';
const storedLocale = async (id = user.userId) => (await sql<{ locale: string | null }>(db.url, 'SELECT locale FROM users WHERE id = $1', [id]))[0]!.locale;

/** The mails to `addr` whose subject is `subject`, once `count` of them arrived. */
async function mailsTo(addr: string, subject: string, count = 1): Promise<ReceivedMail[]> {
  const deadline = Date.now() + 10_000;
  const matching = () => sink.to(addr).filter((m) => m.subject === subject);
  while (matching().length < count && Date.now() < deadline) await sleep(25);
  expect(matching()).toHaveLength(count);
  return matching();
}

async function rp(headers: Record<string, string> = {}) {
  const r = await RelyingParty.create(server.url, client.clientId, client.clientSecret);
  r.agent.headers = headers;
  return r;
}

describe("the user's language", () => {
  test('an SMS enrolment in German: German pages and PIN text, and German is kept on the user', async () => {
    expect(await storedLocale()).toBeNull();
    const r = await rp({ 'accept-language': 'en' });
    const { page, finish } = await r.start({ ui_locales: 'de' });
    const notice = await submitPassword(r.agent, page, user);
    expectKind(notice, 'notice');
    expect(notice.html).toContain('Mehrfaktor-Authentifizierung erforderlich');
    const choose = await r.agent.submit(notice, '/enrol');
    const form = await r.agent.submit(choose, '/enrol/method', { method: 'sms' });
    expect(form.html).toContain('<label for="country">Ländervorwahl</label>');
    expect(form.html).toMatch(/<option value="GB"[^>]*>Vereinigtes Königreich \(\+44\)<\/option>/);
    const wrongNumber = await r.agent.submit(form, '/enrol/begin', { method: 'sms', country: 'GB', phone: '12' });
    expect(wrongNumber.html).toContain('Ungültige Telefonnummer');

    const enrol = await r.agent.submit(form, '/enrol/begin', { method: 'sms', country: 'GB', phone: '07911 123457' });
    expectKind(enrol, 'enrol');
    expect(enrol.html).toContain('Wir haben eine 4-stellige PIN an');
    const pinText = latestText();
    expect(pinText).toMatch(/^Ihre Twofold-Bestätigungs-PIN lautet \d{4}\. Sie läuft in \d+ Minuten ab\.$/);
    const bad = await r.agent.submit(enrol, '/enrol/verify', { code: '0000' === codeIn(pinText, 4) ? '1111' : '0000' });
    expect(bad.html).toContain('Ungültige PIN');
    await finish(callbackOf(await r.agent.submit(enrol, '/enrol/verify', { code: codeIn(pinText, 4) })));
    expect(await storedLocale()).toBe('de');
  });

  test('a later sign-in on a page in English (only guessed from the browser) still texts the code in German', async () => {
    const r = await rp({ 'accept-language': 'en-GB,en;q=0.9' });
    const { page, finish } = await r.start();
    const challenge = await submitPassword(r.agent, page, user);
    expectKind(challenge, 'challenge');
    expect(challenge.html).toContain('<html lang="en" dir="ltr">');
    const text = latestText();
    expect(text).toMatch(/^Ihr Twofold-Anmeldecode lautet \d{7}\. Er läuft in \d+ Minuten ab\.$/);
    await finish(callbackOf(await r.agent.submit(challenge, '/mfa', { code: codeIn(text, 7) })));
    expect(await storedLocale()).toBe('de');
  });

  test('a language picked on the page wins over the stored one, and becomes the stored one', async () => {
    const r = await rp({ 'accept-language': 'de' });
    await r.agent.request(`${server.url}/language?lang=ar&return=/healthz`);
    const { page, finish } = await r.start();
    expect(page.html).toContain('<html lang="ar" dir="rtl">');
    const challenge = await submitPassword(r.agent, page, user);
    const text = latestText();
    expect(text).toContain('رمز تسجيل الدخول إلى Twofold هو');
    await finish(callbackOf(await r.agent.submit(challenge, '/mfa', { code: codeIn(text, 7) })));
    expect(await storedLocale()).toBe('ar');
  });

  test("Language on /account: a choice needs the form's CSRF token and a listed language; then pages and the stored language follow it", async () => {
    const someone = await accountWithUser(db.url, { mfaRequired: false });
    const browser = new UserAgent();
    const { page } = await openAccount(browser, server.url, someone);
    expect(page.html).toContain('<label for="account-locale">Preferred language</label>');

    const forged = await postAccount(browser, page, '/account/language', { locale: 'fr' }, false);
    expect(forged.status).toBe(403);
    const unknown = await postAccount(browser, page, '/account/language', { locale: 'klingon' });
    expect(unknown.status).toBe(422);
    expect(unknown.html).toContain('Choose one of the languages in the list.');
    expect(await storedLocale(someone.userId)).toBeNull();

    const saved = await postAccount(browser, page, '/account/language', { locale: 'fr' });
    expect(saved.status).toBe(200);
    expect(new URL(saved.url).search).toBe('?done=language');
    expect(saved.html).toContain('<html lang="fr" dir="ltr">');
    expect(saved.html).toContain('Votre langue a été modifiée.');
    expect(await storedLocale(someone.userId)).toBe('fr');
  });

  test("a German user's mails are German, also when support works in French; /support speaks the agent's language", async () => {
    const stamp = Date.now().toString(36);
    const germanEmail = `de-${stamp}@example.test`;
    const unsetEmail = `none-${stamp}@example.test`;
    const german = await accountWithUser(db.url, { mfaRequired: true, email: germanEmail });
    const unset = await accountWithUser(db.url, { mfaRequired: true, email: unsetEmail });
    const browser = new UserAgent();
    await openAccount(browser, server.url, german);
    await openAccount(new UserAgent(), server.url, unset);
    await sql(db.url, "UPDATE users SET locale = 'de' WHERE id = $1", [german.userId]);

    // Change email on a page in English (only guessed): the link goes out in German.
    const form = await browser.request(`${server.url}/account/email`);
    expect(form.html).toContain('<html lang="en" dir="ltr">');
    const newEmail = `de-new-${stamp}@example.test`;
    expect((await browser.submit(form, '/account/email', { email: newEmail })).status).toBe(200);
    const [verify] = await mailsTo(newEmail, 'Neue E-Mail-Adresse bestätigen');
    expect(verify!.text).toContain(`Hallo ${german.username},`);
    expect(verify!.text).toContain('innerhalb von 24 Stunden');
    expect(verify!.html).toContain('<html lang="de" dir="ltr">');

    // The support console follows the agent's browser, then the agent's pick.
    const support = await accountWithUser(db.url, { mfaRequired: true, support: true });
    const agent = new UserAgent();
    agent.headers = { 'accept-language': 'de' };
    const { page: consolePage } = await openAccount(agent, server.url, support, { path: '/support' });
    expect(consolePage.html).toContain('<html lang="de" dir="ltr">');
    expect(consolePage.html).toContain('<label for="q">Benutzer suchen</label>');
    expect(consolePage.html).toMatch(/<button[^>]*>\s*Suchen\s*<\/button>/);
    const found = await agent.request(`${server.url}/support?q=${encodeURIComponent(german.username)}`);
    expect(found.html).toMatch(/<span class="badge badge-ok">Aktiv<\/span>/);
    await agent.request(`${server.url}/language?lang=fr&return=/support`);
    const resetPage = await agent.request(`${server.url}/support/users/${german.userId}/reset-mfa`);
    expect(resetPage.html).toContain('<html lang="fr" dir="ltr">');
    expect(resetPage.html).toMatch(/<button[^>]*>\s*Envoyer le code de vérification\s*<\/button>/);

    // Support works in French: the German user's code and reset notice are German, the other user's in the default language.
    const sent = await postAccount(agent, resetPage, `/support/users/${german.userId}/reset-mfa/code`);
    expect(sent.html).toContain('Un code de vérification a été envoyé à');
    const [codeMail] = await mailsTo(germanEmail, 'Ihr Bestätigungscode für den Support');
    const code = /\b(\d{6})\b/.exec(codeMail!.text)?.[1] ?? '';
    const wrong = await postAccount(agent, resetPage, `/support/users/${german.userId}/reset-mfa`, { reason: 'Handy verloren', code: code === '000000' ? '111111' : '000000' });
    expect(wrong.html).toMatch(/role="alert">Code de vérification incorrect \(4 tentatives restantes\)\.</);
    const done = await postAccount(agent, resetPage, `/support/users/${german.userId}/reset-mfa`, { reason: 'Handy verloren', code });
    expect(done.html).toContain('L’authentification multifacteur a été réinitialisée');
    await mailsTo(germanEmail, 'Die Mehrfaktor-Authentifizierung Ihres Kontos wurde zurückgesetzt');

    const other = await agent.request(`${server.url}/support/users/${unset.userId}/reset-mfa`);
    await postAccount(agent, other, `/support/users/${unset.userId}/reset-mfa/code`);
    const [englishMail] = await mailsTo(unsetEmail, 'Your verification code for Support');
    expect(englishMail!.html).toContain('<html lang="en" dir="ltr">');
  });
});

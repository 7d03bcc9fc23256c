import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { AuditLog } from '../../../src/audit/audit-log.js';
import { ProviderSessions } from '../../../src/oidc/provider-sessions.js';
import { sessionTracker } from '../../../src/oidc/session-tracking.js';
import { createAdapterClass, type OidcAdapterClass } from '../../../src/oidc/storage-adapter.js';
import { SignedInSessions } from '../../../src/selfservice/signed-in-sessions.js';
import { SessionIndexRepository } from '../../../src/storage/repositories/session-index-repository.js';
import type { User, UsersRepository } from '../../../src/storage/repositories/users-repository.js';
import { storeFactories, type Store } from '../../helpers/ephemeral-stores.js';

const now = () => Math.floor(Date.now() / 1000);
const id = () => randomBytes(10).toString('base64url');
const userOf = (userId: string) => ({ id: userId, accountId: 'acc' }) as User;
const noAudit = { record: async () => {} } as unknown as AuditLog;
const users = (userId: string) =>
  ({ findAuthState: async () => ({ user: userOf(userId), accountMfaRequired: false, sessionsValidAfter: null, hasVerifiedDevice: false }) }) as unknown as UsersRepository;

describe.each(storeFactories)('session index on %s', (_name, factory) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  let Adapter: OidcAdapterClass;
  let index: SessionIndexRepository;

  beforeAll(async () => {
    ({ store, cleanup } = await factory());
    index = new SessionIndexRepository(store);
    const track = sessionTracker(index, new ProviderSessions(store), () => 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0');
    // The adapter as the provider gets it: every Session save goes through the tracker.
    Adapter = createAdapterClass(store, { onSessionSaved: track });
  });
  afterAll(() => cleanup());

  /** A signed-in Session with one app's grant, a refresh token of it, saved as oidc-provider saves them. */
  async function signedIn(userId: string) {
    const [jti, uid, grantId, refresh] = [id(), id(), id(), id()];
    const payload = { jti, uid, kind: 'Session', accountId: userId, loginTs: now(), iat: now(), exp: now() + 3600, authorizations: { app: { sid: id(), grantId } } };
    await new Adapter('Grant').upsert(grantId, { jti: grantId, kind: 'Grant', accountId: userId }, 3600);
    await new Adapter('RefreshToken').upsert(refresh, { jti: refresh, kind: 'RefreshToken', grantId, accountId: userId }, 3600);
    await new Adapter('Session').upsert(jti, payload, 3600);
    return { payload, jti, uid, grantId, refresh };
  }

  it('a sign-in is listed; signing it out ends the session, its grant and its tokens', async () => {
    const userId = id();
    const mine = await signedIn(userId);
    const other = await signedIn(userId);
    const sessions = new SignedInSessions(index, new ProviderSessions(store), users(userId), noAudit);

    const listed = await sessions.list(userOf(userId), mine.uid);
    expect(listed.map((s) => [s.uid, s.current, s.browser, s.system]).sort()).toEqual(
      [
        [mine.uid, true, 'Firefox 128', 'Linux'],
        [other.uid, false, 'Firefox 128', 'Linux'],
      ].sort(),
    );

    await sessions.signOut(userOf(userId), other.uid, { ip: null, userAgent: null });
    expect(await new Adapter('Session').find(other.jti)).toBeUndefined();
    expect(await new Adapter('Grant').find(other.grantId)).toBeUndefined();
    expect(await new Adapter('RefreshToken').find(other.refresh)).toBeUndefined();
    // The rest is untouched.
    expect(await new Adapter('Session').find(mine.jti)).toBeDefined();
    expect(await new Adapter('RefreshToken').find(mine.refresh)).toBeDefined();
    expect((await sessions.list(userOf(userId), mine.uid)).map((s) => s.uid)).toEqual([mine.uid]);
  });

  it('a late save of an ended session (a request that was in flight) does not bring it back', async () => {
    const userId = id();
    const other = await signedIn(userId);
    const sessions = new SignedInSessions(index, new ProviderSessions(store), users(userId), noAudit);
    await sessions.signOutOthers(userOf(userId), undefined, { ip: null, userAgent: null });

    // The in-flight request saves the session it loaded before, with a new app authorised meanwhile.
    const lateGrant = id();
    const lateToken = id();
    await new Adapter('Grant').upsert(lateGrant, { jti: lateGrant, kind: 'Grant', accountId: userId }, 3600);
    await new Adapter('AccessToken').upsert(lateToken, { jti: lateToken, kind: 'AccessToken', grantId: lateGrant, accountId: userId }, 600);
    const late = { ...other.payload, authorizations: { ...other.payload.authorizations, late: { sid: id(), grantId: lateGrant } } };
    await new Adapter('Session').upsert(other.jti, late, 3600);

    expect(await new Adapter('Session').find(other.jti)).toBeUndefined();
    expect(await new Adapter('Session').findByUid(other.uid)).toBeUndefined();
    expect(await new Adapter('Grant').find(lateGrant)).toBeUndefined();
    expect(await new Adapter('AccessToken').find(lateToken)).toBeUndefined();
    expect(await sessions.list(userOf(userId), undefined)).toEqual([]);
    await expect(sessions.signOut(userOf(userId), other.uid, { ip: null, userAgent: null })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('a late save is told to the index as it is written, and an ended session is ended again only once that write has landed', async () => {
    const userId = id();
    const other = await signedIn(userId);
    const sessions = new SignedInSessions(index, new ProviderSessions(store), users(userId), noAudit);
    await sessions.signOutOthers(userOf(userId), undefined, { ip: null, userAgent: null });
    const track = sessionTracker(index, new ProviderSessions(store));
    const Plain = createAdapterClass(store);
    // The late request's write is slow: the index answers "ended" long before it lands.
    let landed!: () => void;
    const saved = new Promise<void>((resolve) => (landed = resolve));
    const tracking = track(other.payload, saved);
    await new Promise((resolve) => setTimeout(resolve, 30));
    await new Plain('Session').upsert(other.jti, other.payload, 3600);
    landed();
    await tracking;
    expect(await new Plain('Session').find(other.jti)).toBeUndefined();
  });

  it('last activity is written at most once a minute per session; a new sign-in is written at once', async () => {
    const userId = id();
    let agent = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
    const track = sessionTracker(index, new ProviderSessions(store), () => agent);
    const payload = { uid: id(), accountId: userId, loginTs: now(), exp: now() + 3600 };
    const clock = jest.spyOn(Date, 'now');
    try {
      const t0 = Date.now();
      await track(payload);
      const first = (await index.list(userId)).get(payload.uid)!;
      agent = 'curl/8';
      clock.mockReturnValue(t0 + 59_000);
      await track(payload);
      expect((await index.list(userId)).get(payload.uid)).toEqual(first);
      clock.mockReturnValue(t0 + 61_000);
      await track(payload);
      expect((await index.list(userId)).get(payload.uid)).toMatchObject({ userAgent: 'curl/8', lastActive: Math.floor((t0 + 61_000) / 1000) });
      // Signing in again (a new login time) is recorded without waiting.
      clock.mockReturnValue(t0 + 62_000);
      await track({ ...payload, loginTs: payload.loginTs + 62 });
      expect((await index.list(userId)).get(payload.uid)).toMatchObject({ loginTs: payload.loginTs + 62 });
    } finally {
      clock.mockRestore();
    }
  });

  it("one user's uid means nothing to another user, and a uid nobody has means nothing either", async () => {
    const [owner, intruder] = [id(), id()];
    const victim = await signedIn(owner);
    const sessions = new SignedInSessions(index, new ProviderSessions(store), users(intruder), noAudit);
    await expect(sessions.signOut(userOf(intruder), victim.uid, { ip: null, userAgent: null })).rejects.toMatchObject({ code: 'not_found' });
    await expect(sessions.signOut(userOf(intruder), id(), { ip: null, userAgent: null })).rejects.toMatchObject({ code: 'not_found' });
    expect(await sessions.signOutOthers(userOf(intruder), undefined, { ip: null, userAgent: null })).toBe(0);
    expect(await new Adapter('Session').find(victim.jti)).toBeDefined();
    expect(await new Adapter('RefreshToken').find(victim.refresh)).toBeDefined();
  });

  it('a session now of another user (a new sign-in in that browser) and an expired entry are pruned on read', async () => {
    const [first, second] = [id(), id()];
    const s = await signedIn(first);
    await new Adapter('Session').upsert(s.jti, { ...s.payload, accountId: second, loginTs: now() + 1 }, 3600);
    await index.record(first, id(), { userAgent: '', loginTs: now() - 100, lastActive: now() - 100, exp: now() - 1 });
    const sessions = new SignedInSessions(index, new ProviderSessions(store), users(first), noAudit);
    expect(await sessions.list(userOf(first), undefined)).toEqual([]);
    expect(await index.list(first)).toEqual(new Map());
  });
});

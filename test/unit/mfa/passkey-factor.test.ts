import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { AuditLog } from '../../../src/audit/audit-log.js';
import { PasskeyFactor } from '../../../src/mfa/factors/passkey/passkey-factor.js';
import type { FactorContext } from '../../../src/mfa/mfa-factor.js';
import { MemoryStore } from '../../../src/storage/memory-store.js';
import type { AuditRepository } from '../../../src/storage/repositories/audit-repository.js';
import type { Device, DevicesRepository, NewDevice } from '../../../src/storage/repositories/devices-repository.js';
import { PASSKEY_CHALLENGE_TTL_SECONDS, PasskeyChallengeRepository } from '../../../src/storage/repositories/passkey-challenge-repository.js';
import { SigninChallenges } from '../../../src/mfa/factors/passkey/signin-challenge.js';
import type { User } from '../../../src/storage/repositories/users-repository.js';
import { challengeOf, SoftwareAuthenticator } from '../../helpers/software-authenticator.js';

const SIGNIN_KEY = Buffer.alloc(32, 7);
const RP = { rpId: 'localhost', rpName: 'Twofold', origin: 'http://localhost:3000' };
const origin = { ip: '127.0.0.1', userAgent: 'test' } as unknown as FactorContext['origin'];

/** The device rows the factor reads and writes, with the repository's counter rule. */
class FakeDevices {
  rows: Device[] = [];
  async createPending(input: NewDevice): Promise<Device> {
    const d: Device = {
      ...input,
      enrolmentBinding: input.enrolmentBinding ?? null,
      verifiedAt: null,
      isDefault: false,
      lastTimeStep: null,
      createdAt: new Date(),
      lastUsedAt: null,
      config: null,
      credentialId: null,
    };
    this.rows.push(d);
    return d;
  }
  async listForUser(userId: string) {
    return this.rows.filter((d) => d.userId === userId);
  }
  async setCredential(userId: string, deviceId: string, credentialId: string, config: Record<string, unknown>) {
    const d = this.rows.find((r) => r.id === deviceId && r.userId === userId && !r.verifiedAt);
    if (!d) return false;
    Object.assign(d, { credentialId, config });
    return true;
  }
  async acceptSignatureCounter(deviceId: string, counter: number) {
    const d = this.rows.find((r) => r.id === deviceId)!;
    const stored = Number(d.config!.counter ?? 0);
    if (!((counter === 0 && stored === 0) || stored < counter)) return false;
    d.config = { ...d.config, counter };
    return true;
  }
  async findByCredentialId(credentialId: string) {
    return this.rows.find((r) => r.credentialId === credentialId && r.verifiedAt);
  }
  verify(id: string) {
    this.rows.find((r) => r.id === id)!.verifiedAt = new Date();
  }
}

/** Counts what is written to it. */
class CountingStore extends MemoryStore {
  writes = 0;
  override async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    this.writes++;
    return super.set(key, value, ttlSeconds);
  }
  override async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    this.writes++;
    return super.setIfAbsent(key, value, ttlSeconds);
  }
}

function setup(ttlSeconds?: number) {
  const store = new CountingStore();
  const devices = new FakeDevices();
  const events: { type: string; details: unknown }[] = [];
  const audit = new AuditLog(
    { insertMany: async (batch: { type: string; details: unknown }[]) => void events.push(...batch) } as unknown as AuditRepository,
    pino({ level: 'silent' }),
  );
  const factor = new PasskeyFactor({
    devices: devices as unknown as DevicesRepository,
    challenges: new PasskeyChallengeRepository(store, ttlSeconds),
    signin: new SigninChallenges(SIGNIN_KEY, ttlSeconds ?? PASSKEY_CHALLENGE_TTL_SECONDS),
    audit,
    rp: RP,
    pendingLimits: { perUser: 5, usersPerPhone: 3 },
  });
  return { devices, factor, events, store };
}

const userA = { id: '00000000-0000-4000-8000-00000000000a', accountId: 'acc', username: 'alice' } as User;
const userB = { id: '00000000-0000-4000-8000-00000000000b', accountId: 'acc', username: 'bob' } as User;
const ctxOf = (flowId: string): FactorContext => ({ flowId, origin });

/** Registers a passkey for the user in flow `flowId`; returns the device and its authenticator. */
async function enrol(s: ReturnType<typeof setup>, user: User, flowId: string, opts: { backedUp?: boolean } = {}) {
  const authenticator = new SoftwareAuthenticator({ rpId: RP.rpId, origin: RP.origin, backedUp: opts.backedUp });
  const device = await s.factor.beginEnrolment(user, { nickname: 'Laptop' }, ctxOf(flowId));
  const view = await s.factor.describeEnrolment(user, device, ctxOf(flowId));
  const ok = await s.factor.confirmEnrolment(user, device, authenticator.register(challengeOf(view.options!)), ctxOf(flowId));
  expect(ok).toBe(true);
  s.devices.verify(device.id);
  return { device: s.devices.rows.find((d) => d.id === device.id)!, authenticator };
}

async function challenge(s: ReturnType<typeof setup>, user: User, device: Device, flowId: string) {
  const view = await s.factor.describeChallenge(user, device, flowId);
  return challengeOf(view.options as string);
}

describe('passkey factor (WebAuthn verification)', () => {
  it('registers a credential and accepts an assertion of it; amr follows the backup state', async () => {
    const s = setup();
    const { device, authenticator } = await enrol(s, userA, 'flow-1');
    expect(device.credentialId).toBe(authenticator.id);
    expect(device.config).toMatchObject({ counter: 0, backedUp: false, deviceType: 'singleDevice', transports: ['internal'] });
    expect(s.factor.amrFor(device)).toBe('hwk');
    const c = await challenge(s, userA, device, 'flow-2');
    expect(await s.factor.verify(userA, device, authenticator.assert(c), ctxOf('flow-2'))).toBe(true);

    const synced = await enrol(s, userB, 'flow-3', { backedUp: true });
    expect(synced.device.config).toMatchObject({ backedUp: true, deviceType: 'multiDevice' });
    expect(s.factor.amrFor(synced.device)).toBe('swk');
  });

  it('registration options exclude the user’s existing passkeys and prefer a resident key and UV', async () => {
    const s = setup();
    const { authenticator } = await enrol(s, userA, 'flow-1');
    const device = await s.factor.beginEnrolment(userA, { nickname: 'Phone' }, ctxOf('flow-2'));
    const options = JSON.parse((await s.factor.describeEnrolment(userA, device, ctxOf('flow-2'))).options!);
    expect(options.excludeCredentials.map((c: { id: string }) => c.id)).toEqual([authenticator.id]);
    expect(options.authenticatorSelection).toMatchObject({ residentKey: 'preferred', userVerification: 'preferred' });
    expect(options.rp).toEqual({ id: 'localhost', name: 'Twofold' });
  });

  it('the one-page creation request: only for the flow that began the device, the last one asked for counts', async () => {
    const s = setup();
    const authenticator = new SoftwareAuthenticator({ rpId: RP.rpId, origin: RP.origin });
    const device = await s.factor.beginEnrolment(userA, { nickname: 'Laptop' }, ctxOf('flow-1'));
    await expect(s.factor.enrolmentOptions(userA, device, ctxOf('flow-other'))).rejects.toMatchObject({ code: 'not_found' });
    const first = (await s.factor.enrolmentOptions(userA, device, ctxOf('flow-1'))) as { challenge: string };
    const second = (await s.factor.enrolmentOptions(userA, device, ctxOf('flow-1'))) as { challenge: string; user: { name: string } };
    expect(second.user.name).toBe('alice');
    expect(second.challenge).not.toBe(first.challenge);
    expect(await s.factor.confirmEnrolment(userA, device, authenticator.register(first.challenge), ctxOf('flow-1'))).toBe(false);
    const third = (await s.factor.enrolmentOptions(userA, device, ctxOf('flow-1'))) as { challenge: string };
    expect(await s.factor.confirmEnrolment(userA, device, authenticator.register(third.challenge), ctxOf('flow-1'))).toBe(true);
    s.devices.verify(device.id);
    // A verified device gets no new creation request.
    await expect(s.factor.enrolmentOptions(userA, s.devices.rows[0]!, ctxOf('flow-1'))).rejects.toMatchObject({ code: 'not_found' });
  });

  it('a challenge is single use: the same assertion replayed is refused', async () => {
    const s = setup();
    const { device, authenticator } = await enrol(s, userA, 'flow-1');
    const c = await challenge(s, userA, device, 'flow-2');
    const answer = authenticator.assert(c);
    const results = await Promise.all([s.factor.verify(userA, device, answer, ctxOf('flow-2')), s.factor.verify(userA, device, answer, ctxOf('flow-2'))]);
    expect(results.sort()).toEqual([false, true]);
    expect(await s.factor.verify(userA, device, answer, ctxOf('flow-2'))).toBe(false);
  });

  it('a challenge is bound to its flow and expires', async () => {
    const s = setup(1);
    const { device, authenticator } = await enrol(s, userA, 'flow-1');
    const c = await challenge(s, userA, device, 'flow-2');
    expect(await s.factor.verify(userA, device, authenticator.assert(c), ctxOf('flow-other'))).toBe(false);
    const c2 = await challenge(s, userA, device, 'flow-3');
    await new Promise((r) => setTimeout(r, 1200));
    expect(await s.factor.verify(userA, device, authenticator.assert(c2), ctxOf('flow-3'))).toBe(false);
  });

  it('refuses a response made for another origin, at registration and at sign-in', async () => {
    const s = setup();
    const authenticator = new SoftwareAuthenticator({ rpId: RP.rpId, origin: RP.origin });
    const pending = await s.factor.beginEnrolment(userA, { nickname: 'Laptop' }, ctxOf('flow-1'));
    const view = await s.factor.describeEnrolment(userA, pending, ctxOf('flow-1'));
    expect(await s.factor.confirmEnrolment(userA, pending, authenticator.register(challengeOf(view.options!), { origin: 'https://evil.example' }), ctxOf('flow-1'))).toBe(false);
    expect(s.devices.rows[0]!.credentialId).toBeNull();

    const { device, authenticator: good } = await enrol(s, userA, 'flow-2');
    const c = await challenge(s, userA, device, 'flow-3');
    expect(await s.factor.verify(userA, device, good.assert(c, { origin: 'https://evil.example' }), ctxOf('flow-3'))).toBe(false);
  });

  it('a credential of user A is refused for user B', async () => {
    const s = setup();
    const a = await enrol(s, userA, 'flow-a');
    const b = await enrol(s, userB, 'flow-b');
    const c = await challenge(s, userB, b.device, 'flow-sign-in-b');
    expect(await s.factor.verify(userB, b.device, a.authenticator.assert(c), ctxOf('flow-sign-in-b'))).toBe(false);
    // B's allowCredentials never name A's credential.
    const options = JSON.parse((await s.factor.describeChallenge(userB, b.device, 'x')).options as string);
    expect(options.allowCredentials.map((x: { id: string }) => x.id)).toEqual([b.authenticator.id]);
  });

  it('a signature counter that goes backwards is refused and audited', async () => {
    const s = setup();
    const { device, authenticator } = await enrol(s, userA, 'flow-1');
    authenticator.counter = 10;
    expect(await s.factor.verify(userA, device, authenticator.assert(await challenge(s, userA, device, 'f2')), ctxOf('f2'))).toBe(true);
    expect(await s.factor.verify(userA, device, authenticator.assert(await challenge(s, userA, device, 'f3'), { counter: 5 }), ctxOf('f3'))).toBe(false);
    expect(await s.factor.verify(userA, device, authenticator.assert(await challenge(s, userA, device, 'f4'), { counter: 12 }), ctxOf('f4'))).toBe(true);
    expect(s.events.filter((e) => e.type === 'passkey.counter_regression')).toHaveLength(1);
  });

  it('a sign-in without a password needs user verification, and a single-use challenge', async () => {
    const s = setup();
    const { device, authenticator } = await enrol(s, userA, 'flow-1');
    const options = async (flowId: string) => challengeOf((await s.factor.describeFirstFactor(flowId)).options as string);
    const c = await options('login-1');
    expect(JSON.parse((await s.factor.describeFirstFactor('login-x')).options as string)).toMatchObject({ allowCredentials: [], userVerification: 'required' });
    const answer = authenticator.assert(c);
    expect((await s.factor.verifyFirstFactor(answer, ctxOf('login-1')))?.id).toBe(device.id);
    expect(await s.factor.verifyFirstFactor(answer, ctxOf('login-1'))).toBeUndefined();

    const noUv = new SoftwareAuthenticator({ rpId: RP.rpId, origin: RP.origin, userVerified: false });
    const pending = await s.factor.beginEnrolment(userB, { nickname: 'Key' }, ctxOf('flow-b'));
    const view = await s.factor.describeEnrolment(userB, pending, ctxOf('flow-b'));
    expect(await s.factor.confirmEnrolment(userB, pending, noUv.register(challengeOf(view.options!)), ctxOf('flow-b'))).toBe(true);
    s.devices.verify(pending.id);
    expect(await s.factor.verifyFirstFactor(noUv.assert(await options('login-2')), ctxOf('login-2'))).toBeUndefined();
    // As a second factor after a password, presence is enough.
    expect(await s.factor.verify(userB, pending, noUv.assert(await challenge(s, userB, pending, 'f')), ctxOf('f'))).toBe(true);
  });

  it('a sign-in challenge stores nothing, and counts only for its own flow, unaltered, unexpired, once however many answers race', async () => {
    const s = setup();
    const { factor } = s;
    const { device, authenticator } = await enrol(s, userA, 'flow-1');
    const options = async (flowId: string) => challengeOf((await factor.describeFirstFactor(flowId)).options as string);

    // A thousand page views write nothing.
    const writes = s.store.writes;
    for (let i = 0; i < 1000; i++) await options(`view-${i}`);
    expect(s.store.writes).toBe(writes);

    // Answered in another flow than the one it was issued to: refused.
    expect(await factor.verifyFirstFactor(authenticator.assert(await options('login-a')), ctxOf('login-b'))).toBeUndefined();
    // Issued by a server with another key: refused.
    const stranger = new SigninChallenges(Buffer.alloc(32, 9), 300).issue('login-c');
    expect(await factor.verifyFirstFactor(authenticator.assert(stranger), ctxOf('login-c'))).toBeUndefined();
    // One bit of the nonce changed: refused.
    const issued = Buffer.from(await options('login-d'), 'base64url');
    issued[3]! ^= 1;
    expect(await factor.verifyFirstFactor(authenticator.assert(issued.toString('base64url')), ctxOf('login-d'))).toBeUndefined();
    // Expired: refused.
    const old = new SigninChallenges(SIGNIN_KEY, PASSKEY_CHALLENGE_TTL_SECONDS).issue('login-e', Date.now() - (PASSKEY_CHALLENGE_TTL_SECONDS + 1) * 1000);
    expect(await factor.verifyFirstFactor(authenticator.assert(old), ctxOf('login-e'))).toBeUndefined();

    // Ten parallel copies of one good answer: exactly one signs in.
    const answer = authenticator.assert(await options('login-f'));
    const results = await Promise.all(Array.from({ length: 10 }, () => factor.verifyFirstFactor(answer, ctxOf('login-f'))));
    expect(results.filter((d) => d?.id === device.id)).toHaveLength(1);
    expect(await factor.verifyFirstFactor(answer, ctxOf('login-f'))).toBeUndefined();
  });

  it('malformed and oversized responses are refused without an exception', async () => {
    const s = setup();
    const { device } = await enrol(s, userA, 'flow-1');
    for (const bad of [undefined, '', '{', '[]', '{"id":1}', JSON.stringify({ id: 'x', response: {} }), 'x'.repeat(20_000)]) {
      await challenge(s, userA, device, 'f');
      expect(await s.factor.verify(userA, device, bad, ctxOf('f'))).toBe(false);
    }
  });
});

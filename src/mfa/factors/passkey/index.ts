import { PasskeyChallengeRepository } from '../../../storage/repositories/passkey-challenge-repository.js';
import type { FactorModule } from '../../mfa-factor.js';
import { PasskeyFactor } from './passkey-factor.js';

/** Passkeys (WebAuthn): phishing resistant; amr hwk (device-bound) or swk (synced). */
export const passkeyFactor: FactorModule<'passkey', 'hwk' | 'swk'> = {
  kind: 'passkey',
  amr: 'hwk',
  otherAmr: ['swk'],
  metricsLabel: 'passkey',
  label: 'Passkey',
  methodLabel: 'Passkey',
  chooseHint: 'Your fingerprint, face or screen lock on this device, or a security key.',
  blurb: 'a passkey on your phone, computer or security key',
  addButton: 'Add passkey',
  addTitle: 'Add a passkey',
  verifyButton: 'Create passkey',
  invalidEnrolmentCode: 'Passkey not recognised',
  invalidChallengeCode: 'Passkey not recognised',
  ownForm: true,
  phishingResistant: true,
  deviceName: (d) => d.nickname ?? 'Passkey',
  signInLabel: (d) => `Passkey: ${d.nickname ?? 'passkey'}`,
  noticeName: (d) => {
    const name = d.nickname?.trim();
    return name ? `Passkey ("${name.slice(0, 64)}")` : 'Passkey';
  },
  adminView: (d) => ({ nickname: d.nickname, phoneLast4: null }),
  adminName: (v) => v.nickname ?? 'Passkey',
  create: (deps) =>
    new PasskeyFactor({
      devices: deps.data.devices,
      challenges: new PasskeyChallengeRepository(deps.store),
      audit: deps.audit,
      rp: deps.config.webauthn,
      pendingLimits: deps.pendingLimits,
    }),
};

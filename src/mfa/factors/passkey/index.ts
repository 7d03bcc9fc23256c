import crypto from 'node:crypto';
import { PASSKEY_CHALLENGE_TTL_SECONDS, PasskeyChallengeRepository } from '../../../storage/repositories/passkey-challenge-repository.js';
import type { FactorModule } from '../../mfa-factor.js';
import { PasskeyFactor } from './passkey-factor.js';
import { SigninChallenges } from './signin-challenge.js';

/** Passkeys (WebAuthn): phishing resistant; amr hwk (device-bound) or swk (synced). */
export const passkeyFactor: FactorModule<'passkey', 'hwk' | 'swk'> = {
  kind: 'passkey',
  amr: 'hwk',
  otherAmr: ['swk'],
  metricsLabel: 'passkey',
  label: 'factor.passkey.label',
  methodLabel: 'factor.passkey.methodLabel',
  chooseHint: 'factor.passkey.chooseHint',
  blurb: 'factor.passkey.blurb',
  addButton: 'factor.passkey.addButton',
  addTitle: 'factor.passkey.addTitle',
  verifyButton: 'factor.passkey.verifyButton',
  invalidEnrolmentCode: 'factor.passkey.invalidEnrolmentCode',
  invalidChallengeCode: 'factor.passkey.invalidChallengeCode',
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
      signin: new SigninChallenges(crypto.createHmac('sha256', deps.config.dataEncryptionKey).update('twofold passkey sign-in challenges').digest(), PASSKEY_CHALLENGE_TTL_SECONDS),
      audit: deps.audit,
      rp: deps.config.webauthn,
      pendingLimits: deps.pendingLimits,
    }),
};

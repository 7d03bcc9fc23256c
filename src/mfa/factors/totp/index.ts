import type { FactorModule } from '../../mfa-factor.js';
import { TotpFactor } from './totp-factor.js';

/** "Mobile Passcode": an authenticator app's TOTP codes. */
export const totpFactor: FactorModule<'totp', 'otp'> = {
  kind: 'totp',
  amr: 'otp',
  metricsLabel: 'otp',
  label: 'Mobile Passcode',
  methodLabel: 'Mobile Passcode Application',
  chooseHint: 'An authenticator app such as Google Authenticator, Authy, Duo or Microsoft Authenticator.',
  blurb: 'a code from an authenticator app',
  addButton: 'Add Mobile Passcode device',
  addTitle: 'Add a Mobile Passcode device',
  verifyButton: 'Verify Mobile Passcode',
  invalidEnrolmentCode: 'Invalid code',
  deviceName: (d) => d.nickname ?? 'Authenticator app',
  signInLabel: (d) => `Mobile Passcode: ${d.nickname ?? 'authenticator app'}`,
  noticeName: (d) => {
    const name = d.nickname?.trim();
    return name ? `Mobile Passcode ("${name.slice(0, 64)}")` : 'Mobile Passcode';
  },
  adminView: (d) => ({ nickname: d.nickname, phoneLast4: null }),
  adminName: (v) => v.nickname ?? 'Authenticator app',
  create: (deps) => new TotpFactor(deps.data.devices, deps.box, deps.config.totpIssuer, deps.pendingLimits),
};

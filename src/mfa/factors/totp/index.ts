import type { FactorModule } from '../../mfa-factor.js';
import { TotpFactor } from './totp-factor.js';

/** "Mobile Passcode": an authenticator app's TOTP codes. */
export const totpFactor: FactorModule<'totp', 'otp'> = {
  kind: 'totp',
  amr: 'otp',
  metricsLabel: 'otp',
  label: 'factor.totp.label',
  methodLabel: 'factor.totp.methodLabel',
  chooseHint: 'factor.totp.chooseHint',
  blurb: 'factor.totp.blurb',
  addButton: 'factor.totp.addButton',
  addTitle: 'factor.totp.addTitle',
  verifyButton: 'factor.totp.verifyButton',
  invalidEnrolmentCode: 'factor.totp.invalidEnrolmentCode',
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

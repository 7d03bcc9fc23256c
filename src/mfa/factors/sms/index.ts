import { maskPhone } from '../../../sms/phone-number.js';
import { createSmsSender } from '../../../sms/create-sms-sender.js';
import { SmsLimits } from '../../../sms/sms-limits.js';
import { SmsCodeRepository } from '../../../storage/repositories/sms-code-repository.js';
import type { FactorModule } from '../../mfa-factor.js';
import { SmsFactor } from './sms-factor.js';

const last4 = (e164: string | null) => (e164 ? e164.slice(-4) : null);

/** SMS: a PIN verifies the number, a code is sent at each sign-in. */
export const smsFactor: FactorModule<'sms', 'sms'> = {
  kind: 'sms',
  amr: 'sms',
  metricsLabel: 'sms',
  label: 'SMS',
  methodLabel: 'SMS',
  chooseHint: 'A text message with a code is sent to your phone.',
  blurb: 'a code sent to your phone by SMS',
  addButton: 'Add SMS device',
  addTitle: 'Add an SMS device',
  verifyButton: 'Verify',
  invalidEnrolmentCode: 'Invalid PIN',
  resentNotice: 'We sent a new PIN.',
  replacingNotice: 'Once this number is verified, it replaces your old one.',
  deviceName: (d) => `•••• ${last4(d.phoneE164) ?? ''}`,
  signInLabel: (d) => `SMS: •••• ${last4(d.phoneE164) ?? ''}`,
  noticeName: (d) => (d.phoneE164 ? `SMS (${maskPhone(d.phoneE164)})` : 'SMS'),
  adminView: (d) => ({ nickname: d.nickname, phoneLast4: last4(d.phoneE164) }),
  adminName: (v) => `•••• ${v.phoneLast4 ?? ''}`,
  create: (deps) =>
    new SmsFactor({
      devices: deps.data.devices,
      codes: new SmsCodeRepository(deps.store),
      sender: createSmsSender(deps.config, deps.logger),
      limits: new SmsLimits(deps.store, deps.config.sms, deps.audit),
      audit: deps.audit,
      logger: deps.logger,
      settings: deps.config.sms,
      pendingLimits: deps.pendingLimits,
      secret: deps.config.dataEncryptionKey,
    }),
};

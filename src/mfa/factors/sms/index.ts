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
  label: 'factor.sms.label',
  methodLabel: 'factor.sms.methodLabel',
  chooseHint: 'factor.sms.chooseHint',
  blurb: 'factor.sms.blurb',
  addButton: 'factor.sms.addButton',
  addTitle: 'factor.sms.addTitle',
  verifyButton: 'factor.sms.verifyButton',
  invalidEnrolmentCode: 'factor.sms.invalidEnrolmentCode',
  resentNotice: 'factor.sms.resentNotice',
  replacingNotice: 'factor.sms.replacingNotice',
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
      defaultLanguage: deps.config.defaultLocale,
      pendingLimits: deps.pendingLimits,
      secret: deps.config.dataEncryptionKey,
    }),
};

import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { AuditLog } from '../../../src/audit/audit-log.js';
import type { Mailer, OutgoingMail } from '../../../src/mail/mailer.js';
import { MailService } from '../../../src/mail/mail-service.js';
import { SecurityNotices } from '../../../src/mail/security-notices.js';
import type { AuditRepository } from '../../../src/storage/repositories/audit-repository.js';
import type { User } from '../../../src/storage/repositories/users-repository.js';

const logger = pino({ level: 'silent' });

function notices() {
  const sent: OutgoingMail[] = [];
  const mailer: Mailer = { name: 'capture', send: async (m) => void sent.push(m) };
  const audit = new AuditLog({ insertMany: async () => undefined } as unknown as AuditRepository, logger);
  const service = new MailService(mailer, audit, logger, { issuer: 'https://id.example.test' });
  return { sent, notices: new SecurityNotices(service, () => new Date(Date.UTC(2026, 11, 1, 9, 30))) };
}

const user = (over: Partial<User> = {}): User => ({
  id: '00000000-0000-4000-8000-000000000002',
  accountId: '00000000-0000-4000-8000-000000000001',
  username: 'alice',
  role: 'user',
  isSupport: false,
  passwordHash: 'x',
  failedMfaAttempts: 0,
  lockedAt: null,
  lockedReason: null,
  email: 'alice@example.test',
  emailVerified: true,
  locale: null,
  createdAt: new Date(),
  ...over,
});

describe('SecurityNotices', () => {
  it('SMS devices appear as •••• and the last four digits, never the number', async () => {
    const { sent, notices: n } = notices();
    await n.deviceAdded(user(), { kind: 'sms', phoneE164: '+447911123456' }, undefined, { kind: 'sms', phoneE164: '+447700900123' });
    await n.deviceRemoved(user(), { device: { kind: 'sms', phoneE164: '+447911123456' } });
    expect(sent).toHaveLength(2);
    expect(sent[0]!.text).toContain('A new multi-factor device, SMS (•••• 3456), was added to your account.');
    expect(sent[0]!.text).toContain('It replaces SMS (•••• 0123), which was removed.');
    expect(sent[0]!.text).toContain('When: 1 December 2026, 09:30 UTC');
    for (const m of sent) for (const body of [m.subject, m.text, m.html]) expect(body).not.toMatch(/7911|123456|7700900/);
  });

  it('password changed or reset: the method the password flows call', async () => {
    const { sent, notices: n } = notices();
    await n.passwordChanged(user(), 'changed');
    await n.passwordChanged(user(), 'reset');
    expect(sent.map((m) => m.subject)).toEqual(['Your password was changed', 'Your password was reset']);
    expect(sent[1]!.text).toContain('reset with a link sent to this address');
    expect(sent[0]!.html).toContain('<a href="https://id.example.test/account">');
  });

  it("in the user's language: German and Arabic subjects, texts, dates and plurals", async () => {
    const { sent, notices: n } = notices();
    await n.recoveryCodeUsed(user({ locale: 'de' }), 1);
    await n.passwordChanged(user({ locale: 'ar' }), 'changed');
    expect(sent[0]!.subject).toBe('Mit einem Wiederherstellungscode wurde sich bei Ihrem Konto angemeldet');
    expect(sent[0]!.text).toContain('Sie haben noch 1 Wiederherstellungscode.');
    expect(sent[0]!.text).toContain('Wann: 1. Dezember 2026, 09:30 UTC');
    expect(sent[0]!.html).toContain('<html lang="de" dir="ltr">');
    expect(sent[1]!.subject).toBe('تم تغيير كلمة المرور');
    expect(sent[1]!.html).toContain('<html lang="ar" dir="rtl">');
  });

  it('nothing without a verified address', async () => {
    const { sent, notices: n } = notices();
    await n.accountLocked(user({ emailVerified: false }));
    await n.accountLocked(user({ email: null, emailVerified: false }));
    await n.emailChanged(user({ emailVerified: false }));
    expect(sent).toHaveLength(0);
    await n.accountLocked(user());
    expect(sent.map((m) => m.to)).toEqual(['alice@example.test']);
  });
});

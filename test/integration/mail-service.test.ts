import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { AuditLog } from '../../src/audit/audit-log.js';
import { ConsoleMailer } from '../../src/mail/console-mailer.js';
import { MailService, formatUtc } from '../../src/mail/mail-service.js';
import { SmtpMailer } from '../../src/mail/smtp-mailer.js';
import type { AuditEventInput, AuditRepository } from '../../src/storage/repositories/audit-repository.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

function memoryLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

function setup(url: string, timeoutMs = 3000) {
  const log = memoryLogger();
  const events: AuditEventInput[] = [];
  const audit = new AuditLog({ insertMany: async (batch: AuditEventInput[]) => void events.push(...batch) } as unknown as AuditRepository, log.logger);
  const mailer = new SmtpMailer({ url, from: 'Twofold <no-reply@example.test>', timeoutMs, logger: log.logger });
  const service = new MailService(mailer, audit, log.logger, { issuer: 'https://id.example.test' });
  return { service, events, log, mailer };
}

const notice = {
  username: 'alice',
  subject: 'A device was added to your account',
  summary: 'A new device <Mobile Passcode> "Phone & tablet" was added to your account.',
  when: formatUtc(new Date(Date.UTC(2026, 11, 1, 9, 30))),
  details: [] as string[],
};
const context = { accountId: '00000000-0000-4000-8000-000000000001', userId: '00000000-0000-4000-8000-000000000002', origin: { ip: '192.0.2.7', userAgent: 'jest' } };

async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('MailService → nodemailer → a real SMTP server', () => {
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink.close();
  });

  it('formats times in UTC as "1 December 2026, 09:30 UTC"', () => {
    expect(formatUtc(new Date(Date.UTC(2026, 11, 1, 9, 30)))).toBe('1 December 2026, 09:30 UTC');
    expect(formatUtc(new Date(Date.UTC(2027, 0, 9, 23, 5)))).toBe('9 January 2027, 23:05 UTC');
  });

  it('delivers one mail with a text and an HTML body (HTML escaped, text not) from MAIL_FROM', async () => {
    const { service, events, mailer } = setup(sink.url);
    await service.send('Alice@Example.test', 'security-notice', notice, context);
    mailer.close();
    expect(sink.mails).toHaveLength(1);
    const [mail] = sink.mails;
    expect(mail!.to).toEqual(['alice@example.test']);
    expect(mail!.from).toBe('no-reply@example.test');
    expect(mail!.raw).toMatch(/^From: Twofold <no-reply@example\.test>/m);
    expect(mail!.subject).toBe('A device was added to your account');
    expect(mail!.text).toContain('A new device <Mobile Passcode> "Phone & tablet" was added to your account.');
    expect(mail!.text).toContain('When: 1 December 2026, 09:30 UTC');
    expect(mail!.text).toContain("If this wasn't you, contact support.");
    expect(mail!.text).toContain('https://id.example.test/account');
    expect(mail!.html).toContain('A new device &lt;Mobile Passcode&gt; &#34;Phone &amp; tablet&#34; was added');
    expect(mail!.html).toContain('<a href="https://id.example.test/account">');
    expect(events).toEqual([]);
  });

  it('SMTP down (nothing listening): send resolves, the failure is logged and audited as mail.send_failed', async () => {
    const port = await unusedPort();
    const { service, events, log } = setup(`smtp://mailuser:hunter2-smtp-pass@127.0.0.1:${port}`);
    await expect(service.send('alice@example.test', 'security-notice', notice, context)).resolves.toBeUndefined();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'mail.send_failed',
      accountId: context.accountId,
      subjectUserId: context.userId,
      ip: '192.0.2.7',
      details: { template: 'security-notice', provider: 'smtp', reason: expect.stringMatching(/ESOCKET|ECONNECTION|ECONNREFUSED/) },
    });
    const logged = log.lines.join('');
    expect(logged).toContain('mail send failed');
    expect(logged).not.toContain('hunter2-smtp-pass');
    expect(logged).not.toContain('alice@example.test');
    expect(JSON.stringify(events)).not.toContain('hunter2');
  });

  it('a server that has closed since the mailer was made: the same', async () => {
    const temporary = await startSmtpSink();
    const { service, events } = setup(temporary.url);
    await temporary.close();
    await service.send('alice@example.test', 'security-notice', notice, context);
    expect(events.map((e) => e.type)).toEqual(['mail.send_failed']);
  });

  it('a hung server (accepts, never greets): send resolves within the timeout, audited', async () => {
    const hung = await startSmtpSink();
    hung.setHang(true);
    try {
      const { service, events } = setup(hung.url, 500);
      const started = Date.now();
      await service.send('alice@example.test', 'security-notice', notice, context);
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(400);
      expect(took).toBeLessThan(3000);
      expect(events).toHaveLength(1);
      expect(events[0]!.details).toMatchObject({ reason: expect.stringMatching(/timeout|ETIMEDOUT/i) });
      expect(hung.mails).toHaveLength(0);
    } finally {
      await hung.close();
    }
  });

  it('an unknown template is a failure, never a throw', async () => {
    const { service, events } = setup(sink.url);
    const before = sink.mails.length;
    await service.send('alice@example.test', '../../etc/passwd', {}, context);
    await service.send('alice@example.test', 'no-such-template', {}, context);
    expect(events.map((e) => e.type)).toEqual(['mail.send_failed', 'mail.send_failed']);
    expect(sink.mails).toHaveLength(before);
  });
});

describe('ConsoleMailer', () => {
  it('prints subject, recipient and text to the log, and refuses production', async () => {
    const log = memoryLogger();
    const mailer = new ConsoleMailer(log.logger, 'development');
    await mailer.send({ to: 'a@example.test', subject: 'Hello', text: 'Body text here', html: '<p>Body</p>' });
    const line = JSON.parse(log.lines[0]!);
    expect(line).toMatchObject({ mail: 'console', to: 'a@example.test', subject: 'Hello', text: 'Body text here' });
    expect(() => new ConsoleMailer(log.logger, 'production')).toThrow(/MAIL_PROVIDER=smtp/);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { SmsSendError } from '../../src/sms/sms-sender.js';
import { VonageSmsSender } from '../../src/sms/vonage-sms-sender.js';
import { startFakeVonage, type FakeVonage } from '../helpers/fake-vonage.js';

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

async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function failureOf(promise: Promise<unknown>): Promise<SmsSendError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(SmsSendError);
    return e as SmsSendError;
  }
  throw new Error('expected the send to fail');
}

const TO = '+447911123456';
const TEXT = 'Your Twofold code is 1234567';

describe('VonageSmsSender with the real SDK against a fake Vonage', () => {
  let fake: FakeVonage;
  let log: ReturnType<typeof memoryLogger>;

  const sender = (timeoutMs = 2000, restHost = fake.url) =>
    new VonageSmsSender({ apiKey: 'key-123', apiSecret: 'secret-456', from: 'Twofold', restHost, timeoutMs, logger: log.logger });

  beforeAll(async () => {
    fake = await startFakeVonage();
  });
  afterAll(async () => {
    await fake.close();
  });
  afterEach(() => {
    fake.setMode('ok');
    fake.messages.length = 0;
  });

  function expectSafeLogs(): void {
    const logged = log.lines.join('');
    expect(logged).toContain('•••• 3456');
    expect(logged).not.toContain('7911123456');
    expect(logged).not.toContain('1234567');
    expect(logged).not.toContain('secret-456');
  }

  it('delivers the message with the right recipient, sender, text and API key', async () => {
    log = memoryLogger();
    await sender().send(TO, TEXT);
    expect(fake.messages).toEqual([{ to: '447911123456', from: 'Twofold', text: TEXT, apiKey: 'key-123' }]);
    expect(log.lines).toHaveLength(0);
  });

  it('accepts a restHost with a trailing slash', async () => {
    log = memoryLogger();
    await sender(2000, `${fake.url}/`).send(TO, TEXT);
    expect(fake.messages).toHaveLength(1);
  });

  it("turns a non-zero Vonage status into SmsSendError with Vonage's error text", async () => {
    log = memoryLogger();
    fake.setMode('fail');
    const error = await failureOf(sender().send(TO, TEXT));
    expect(error.reason).toBe('status 4: Bad Credentials');
    expect(error.message).not.toContain('7911');
    const logged = log.lines.join('');
    expect(logged).toContain('"level":40');
    expect(logged).toContain('Bad Credentials');
    expectSafeLogs();
  });

  it('gives up on a hung server within the timeout', async () => {
    log = memoryLogger();
    fake.setMode('hang');
    const started = Date.now();
    const error = await failureOf(sender(300).send(TO, TEXT));
    const elapsed = Date.now() - started;
    expect(error.reason).toMatch(/timeout/);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1000);
    expectSafeLogs();
  });

  it('reports an unreachable server as SmsSendError', async () => {
    log = memoryLogger();
    const port = await unusedPort();
    const error = await failureOf(sender(2000, `http://127.0.0.1:${port}`).send(TO, TEXT));
    expect(error.reason).toBe('network: ECONNREFUSED');
    expectSafeLogs();
  });
});

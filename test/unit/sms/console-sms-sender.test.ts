import { describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ConsoleSmsSender } from '../../../src/sms/console-sms-sender.js';

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

describe('ConsoleSmsSender', () => {
  it('refuses to run in production', () => {
    const { logger } = memoryLogger();
    expect(() => new ConsoleSmsSender(logger, 'production')).toThrow(/development only/);
  });

  it('logs a masked number and the text, and keeps the last 50 messages', async () => {
    const { logger, lines } = memoryLogger();
    const sender = new ConsoleSmsSender(logger, 'development');
    expect(sender.name).toBe('console');
    await sender.send('+447911123456', 'Your code is 1234567');
    const logged = lines.join('');
    expect(logged).toContain('•••• 3456');
    expect(logged).toContain('Your code is 1234567');
    expect(logged).not.toContain('7911123456');

    for (let i = 0; i < 60; i++) await sender.send('+447911123456', `message ${i}`);
    expect(sender.lastMessages).toHaveLength(50);
    expect(sender.lastMessages[49]).toEqual({ to: '+447911123456', text: 'message 59' });
    expect(sender.lastMessages[0].text).toBe('message 10');
  });
});

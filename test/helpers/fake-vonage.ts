import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

export type FakeVonageMode = 'ok' | 'fail' | 'hang';

export interface FakeVonageMessage {
  to: string;
  from: string;
  text: string;
  apiKey: string;
}

export interface FakeVonage {
  /** Base URL to pass as the SDK's restHost. */
  readonly url: string;
  readonly messages: FakeVonageMessage[];
  readonly mode: FakeVonageMode;
  setMode(mode: FakeVonageMode): void;
  close(): Promise<void>;
}

/** SMS caps out of the way of a suite's own sends (the Redis they count in is shared by every suite of the hour). */
export const RELAXED_SMS_LIMITS: Record<string, string> = {
  SMS_RESEND_COOLDOWN: '0',
  SMS_LIMIT_USER_HOURLY: '1000',
  SMS_LIMIT_PHONE_HOURLY: '1000000',
  SMS_LIMIT_IP_HOURLY: '1000000',
  SMS_LIMIT_GLOBAL_HOURLY: '10000000',
};

/** Settings that point a Twofold process's real Vonage SDK at this fake. */
export function vonageSettings(fake: FakeVonage): Record<string, string> {
  return { SMS_PROVIDER: 'vonage', VONAGE_API_KEY: 'key', VONAGE_API_SECRET: 'secret', VONAGE_FROM: 'Twofold', VONAGE_REST_HOST: fake.url };
}

/** The real SDK sends JSON with HTTP Basic auth; older clients send a form with api_key/api_secret. */
function readFields(req: IncomingMessage, body: string): Record<string, string> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const fields: Record<string, string> = {};
  if (type === 'application/json') {
    const parsed = JSON.parse(body || '{}') as Record<string, unknown>;
    for (const [k, v] of Object.entries(parsed)) if (v !== undefined && v !== null) fields[k] = String(v);
  } else {
    for (const [k, v] of new URLSearchParams(body)) fields[k] = v;
  }
  const auth = req.headers.authorization ?? '';
  if (auth.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) fields['api_key'] ??= decoded.slice(0, colon);
  }
  return fields;
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

/** A stand-in for Vonage's SMS API (`POST /sms/json`) on 127.0.0.1, a random port. */
export async function startFakeVonage(): Promise<FakeVonage> {
  let mode: FakeVonageMode = 'ok';
  const messages: FakeVonageMessage[] = [];
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/sms/json') {
        answer(res, 404, { type: 'not_found' });
        return;
      }
      let fields: Record<string, string>;
      try {
        fields = readFields(req, Buffer.concat(chunks).toString('utf8'));
      } catch {
        answer(res, 400, { type: 'bad_request' });
        return;
      }
      if (mode === 'hang') return; // never answers; close() destroys the socket
      const to = fields['to'] ?? '';
      if (mode === 'fail') {
        answer(res, 200, { 'message-count': '1', messages: [{ status: '4', 'error-text': 'Bad Credentials' }] });
        return;
      }
      messages.push({ to, from: fields['from'] ?? '', text: fields['text'] ?? '', apiKey: fields['api_key'] ?? '' });
      answer(res, 200, {
        'message-count': '1',
        messages: [
          {
            to,
            'message-id': randomUUID(),
            status: '0',
            'remaining-balance': '10.00000000',
            'message-price': '0.03330000',
            network: '23410',
          },
        ],
      });
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    messages,
    get mode() {
      return mode;
    },
    setMode(m: FakeVonageMode) {
      mode = m;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        sockets.clear();
      });
    },
  };
}

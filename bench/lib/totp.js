// RFC 6238 codes computed independently of the server (as an authenticator app would), and an
// "app" per user that hands out each 30 s time step at most once (the server accepts a step
// once per device, within +-1 step of now).
import crypto from 'node:crypto';

const STEP_MS = 30_000;

export function base32Decode(input) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of input.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error(`bad base32 character ${ch}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

export function totpAtStep(key, step) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const mac = crypto.createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

export class Authenticator {
  constructor(secret) {
    this.secret = secret;
    this.key = base32Decode(secret);
    this.lastStep = Number.NEGATIVE_INFINITY;
  }

  /**
   * Reserves the lowest usable step now, or returns null when this device has used up the
   * window. The previous step is skipped in the last 8 s of the current one (the server may
   * already be in the next step by the time the code arrives).
   */
  reserve(now = Date.now()) {
    const current = Math.floor(now / STEP_MS);
    const intoStep = now % STEP_MS;
    for (const s of [current - 1, current, current + 1]) {
      if (s <= this.lastStep) continue;
      if (s === current - 1 && intoStep > 22_000) continue;
      this.lastStep = s;
      return totpAtStep(this.key, s);
    }
    return null;
  }

  /** How many codes this device could give out right now. */
  credit(now = Date.now()) {
    const current = Math.floor(now / STEP_MS);
    const intoStep = now % STEP_MS;
    let n = 0;
    for (const s of [current - 1, current, current + 1]) {
      if (s <= this.lastStep) continue;
      if (s === current - 1 && intoStep > 22_000) continue;
      n++;
    }
    return n;
  }
}

import crypto from 'node:crypto';

const NONCE_BYTES = 16;
const EXPIRY_BYTES = 4;
const MAC_BYTES = 16;
const BODY_BYTES = NONCE_BYTES + EXPIRY_BYTES;

/**
 * The challenge a login page offers for a passkey sign-in, before anyone is known. Every view
 * of the page gets one, so none is stored: it carries a random nonce, its expiry and an HMAC
 * that binds both to the flow it was issued to. Only an answer writes (its nonce, marked used).
 */
export class SigninChallenges {
  constructor(
    private readonly key: Buffer,
    private readonly ttlSeconds: number,
  ) {}

  issue(flowId: string, now = Date.now()): string {
    const body = Buffer.alloc(BODY_BYTES);
    crypto.randomFillSync(body, 0, NONCE_BYTES);
    body.writeUInt32BE(Math.floor(now / 1000) + this.ttlSeconds, NONCE_BYTES);
    return Buffer.concat([body, this.mac(flowId, body)]).toString('base64url');
  }

  /**
   * The nonce of a challenge this server issued to `flowId`, with the seconds it has left;
   * undefined for anything else (another flow's, expired, altered, not one of ours).
   */
  open(flowId: string, challenge: unknown, now = Date.now()): { nonce: string; secondsLeft: number } | undefined {
    if (typeof challenge !== 'string' || challenge.length > 64) return undefined;
    const raw = Buffer.from(challenge, 'base64url');
    // The decoder skips characters outside the alphabet: only the exact encoding counts.
    if (raw.length !== BODY_BYTES + MAC_BYTES || raw.toString('base64url') !== challenge) return undefined;
    const body = raw.subarray(0, BODY_BYTES);
    if (!crypto.timingSafeEqual(raw.subarray(BODY_BYTES), this.mac(flowId, body))) return undefined;
    const secondsLeft = body.readUInt32BE(NONCE_BYTES) - Math.floor(now / 1000);
    if (secondsLeft <= 0 || secondsLeft > this.ttlSeconds) return undefined;
    return { nonce: body.subarray(0, NONCE_BYTES).toString('hex'), secondsLeft };
  }

  private mac(flowId: string, body: Buffer): Buffer {
    return crypto.createHmac('sha256', this.key).update(`passkey sign-in\0${flowId}\0`).update(body).digest().subarray(0, MAC_BYTES);
  }
}

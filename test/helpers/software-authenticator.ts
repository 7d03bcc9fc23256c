import crypto from 'node:crypto';

/**
 * A WebAuthn authenticator in software: an ES256 key pair, 'none' attestation, and the
 * authenticator data and client data built by hand, as a browser and a passkey would.
 */
const b64u = (b: Buffer | Uint8Array) => Buffer.from(b).toString('base64url');

function cborBytes(b: Buffer): Buffer {
  if (b.length < 24) return Buffer.concat([Buffer.from([0x40 + b.length]), b]);
  if (b.length < 256) return Buffer.concat([Buffer.from([0x58, b.length]), b]);
  const head = Buffer.alloc(3);
  head[0] = 0x59;
  head.writeUInt16BE(b.length, 1);
  return Buffer.concat([head, b]);
}

const cborText = (s: string) => Buffer.concat([Buffer.from([0x60 + s.length]), Buffer.from(s)]);

export const FLAG_UP = 0x01;
export const FLAG_UV = 0x04;
export const FLAG_BE = 0x08;
export const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

export interface AuthenticatorOptions {
  rpId: string;
  origin: string;
  /** Backup eligible and backed up (a synced passkey). */
  backedUp?: boolean;
  userVerified?: boolean;
}

export class SoftwareAuthenticator {
  readonly credentialId = crypto.randomBytes(16);
  private readonly keys = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  counter = 0;

  constructor(private readonly options: AuthenticatorOptions) {}

  get id(): string {
    return b64u(this.credentialId);
  }

  private flags(extra: number): number {
    let f = FLAG_UP | extra;
    if (this.options.userVerified !== false) f |= FLAG_UV;
    if (this.options.backedUp) f |= FLAG_BE | FLAG_BS;
    return f;
  }

  private authData(flags: number, attested?: Buffer): Buffer {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(this.counter);
    const rpIdHash = crypto.createHash('sha256').update(this.options.rpId).digest();
    return Buffer.concat([rpIdHash, Buffer.from([flags]), counter, ...(attested ? [attested] : [])]);
  }

  private coseKey(): Buffer {
    const jwk = this.keys.publicKey.export({ format: 'jwk' });
    const x = Buffer.from(jwk.x!, 'base64url');
    const y = Buffer.from(jwk.y!, 'base64url');
    return Buffer.concat([Buffer.from([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21]), cborBytes(x), Buffer.from([0x22]), cborBytes(y)]);
  }

  private clientData(type: string, challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /** navigator.credentials.create()'s answer to registration options, as JSON text. */
  register(challenge: string, override: { origin?: string } = {}): string {
    const idLen = Buffer.alloc(2);
    idLen.writeUInt16BE(this.credentialId.length);
    const attested = Buffer.concat([Buffer.alloc(16), idLen, this.credentialId, this.coseKey()]);
    const authData = this.authData(this.flags(FLAG_AT), attested);
    const attestationObject = Buffer.concat([
      Buffer.from([0xa3]),
      cborText('fmt'),
      cborText('none'),
      cborText('attStmt'),
      Buffer.from([0xa0]),
      cborText('authData'),
      cborBytes(authData),
    ]);
    return JSON.stringify({
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64u(this.clientData('webauthn.create', challenge, override.origin ?? this.options.origin)),
        attestationObject: b64u(attestationObject),
        transports: ['internal'],
      },
      clientExtensionResults: {},
    });
  }

  /** navigator.credentials.get()'s answer; the counter goes up by one unless told otherwise. */
  assert(challenge: string, override: { origin?: string; counter?: number } = {}): string {
    this.counter = override.counter ?? this.counter + 1;
    const authData = this.authData(this.flags(0));
    const clientDataJSON = this.clientData('webauthn.get', challenge, override.origin ?? this.options.origin);
    const signed = Buffer.concat([authData, crypto.createHash('sha256').update(clientDataJSON).digest()]);
    const signature = crypto.sign('sha256', signed, this.keys.privateKey);
    return JSON.stringify({
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: { clientDataJSON: b64u(clientDataJSON), authenticatorData: b64u(authData), signature: b64u(signature) },
      clientExtensionResults: {},
    });
  }
}

/** The challenge inside options JSON a page received. */
export const challengeOf = (optionsJson: string): string => (JSON.parse(optionsJson) as { challenge: string }).challenge;

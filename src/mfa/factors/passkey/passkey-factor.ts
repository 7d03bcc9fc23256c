import crypto from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { AuditLog } from '../../../audit/audit-log.js';
import { AppError } from '../../../http/app-error.js';
import type { Device, DevicesRepository, PendingLimits } from '../../../storage/repositories/devices-repository.js';
import type { PasskeyChallengeRepository } from '../../../storage/repositories/passkey-challenge-repository.js';
import type { User } from '../../../storage/repositories/users-repository.js';
import { enrolmentBindingOf, type EnrolmentView, type FactorContext, type MfaFactor } from '../../mfa-factor.js';
import type { SigninChallenges } from './signin-challenge.js';

export const PASSKEY_NAME_MAX = 64;
/** A WebAuthn response of a few kilobytes is generous; anything bigger is not one. */
export const RESPONSE_MAX_CHARS = 16_384;

/** What a passkey device keeps in its config document. */
export interface PasskeyConfig {
  publicKey: string;
  counter: number;
  transports: AuthenticatorTransport[];
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
  aaguid: string;
}

export interface RelyingParty {
  rpId: string;
  rpName: string;
  origin: string;
}

export type PasskeyEnrolmentView =
  (EnrolmentView & { kind: 'passkey'; options: string; renewable?: undefined }) | (EnrolmentView & { kind: 'passkey'; options?: undefined; renewable: true });

export const configOf = (device: Device): PasskeyConfig | undefined => (device.config ? (device.config as unknown as PasskeyConfig) : undefined);

/** The challenge the authenticator signed (from the client data), or undefined. */
function signedChallenge(response: AuthenticationResponseJSON): string | undefined {
  try {
    const data = JSON.parse(Buffer.from(String(response.response.clientDataJSON), 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof data.challenge === 'string' ? data.challenge : undefined;
  } catch {
    return undefined;
  }
}

/** The JSON a browser posted, or undefined when it is not a plausible WebAuthn response. */
function parseResponse<T>(code: unknown): T | undefined {
  if (typeof code !== 'string' || code.length === 0 || code.length > RESPONSE_MAX_CHARS) return undefined;
  try {
    const value = JSON.parse(code) as unknown;
    if (!value || typeof value !== 'object' || typeof (value as { id?: unknown }).id !== 'string') return undefined;
    if (typeof (value as { response?: unknown }).response !== 'object' || (value as { response?: unknown }).response === null) return undefined;
    return value as T;
  } catch {
    return undefined;
  }
}

export interface PasskeyFactorDeps {
  devices: DevicesRepository;
  challenges: PasskeyChallengeRepository;
  /** The login page's sign-in challenges, which are not stored. */
  signin: SigninChallenges;
  audit: AuditLog;
  rp: RelyingParty;
  pendingLimits: PendingLimits;
}

/** Passkeys (WebAuthn): the browser proves a key pair bound to this site's origin. */
export class PasskeyFactor implements MfaFactor {
  readonly kind = 'passkey' as const;
  readonly amr = 'hwk' as const;

  constructor(private readonly deps: PasskeyFactorDeps) {}

  /** A synced (backed-up) passkey is a software key in RFC 8176's sense; a device-bound one a hardware key. */
  amrFor(device: Device): 'hwk' | 'swk' {
    return configOf(device)?.backedUp ? 'swk' : 'hwk';
  }

  async beginEnrolment(user: User, input: Record<string, unknown>, ctx: FactorContext): Promise<Device> {
    const name = typeof input.nickname === 'string' ? input.nickname.trim() : '';
    if (!name) throw new AppError('validation_failed', { key: 'passkey.nameMissing' });
    if (name.length > PASSKEY_NAME_MAX || /[\p{Cc}]/u.test(name)) {
      throw new AppError('validation_failed', { key: 'passkey.nameInvalid', values: { max: PASSKEY_NAME_MAX } });
    }
    return this.deps.devices.createPending(
      { id: crypto.randomUUID(), userId: user.id, kind: 'passkey', nickname: name, sealedSecret: null, phoneE164: null, enrolmentBinding: enrolmentBindingOf(ctx) },
      this.deps.pendingLimits,
    );
  }

  /** Fresh registration options for this flow; another flow's device must be taken over first. */
  async describeEnrolment(user: User, device: Device, ctx: FactorContext): Promise<PasskeyEnrolmentView> {
    if (device.verifiedAt || device.enrolmentBinding !== enrolmentBindingOf(ctx)) return { kind: 'passkey', renewable: true };
    return { kind: 'passkey', options: JSON.stringify(await this.enrolmentOptions(user, device, ctx)) };
  }

  /** A creation request for the device, its challenge kept for this flow (the last one asked for counts). */
  async enrolmentOptions(user: User, device: Device, ctx: FactorContext): Promise<Record<string, unknown>> {
    if (device.verifiedAt || device.enrolmentBinding !== enrolmentBindingOf(ctx)) throw new AppError('not_found', { key: 'device.notFound' });
    const options = await generateRegistrationOptions({
      rpName: this.deps.rp.rpName,
      rpID: this.deps.rp.rpId,
      userName: user.username,
      userID: new TextEncoder().encode(user.id),
      attestationType: 'none',
      excludeCredentials: (await this.passkeysOf(user)).map((d) => ({ id: d.credentialId!, transports: configOf(d)?.transports })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    });
    await this.deps.challenges.put('register', ctx.flowId, { challenge: options.challenge, deviceId: device.id });
    return options as unknown as Record<string, unknown>;
  }

  async renewEnrolment(user: User, device: Device, ctx: FactorContext): Promise<void> {
    if (!(await this.deps.devices.renewEnrolment(user.id, device.id, null, enrolmentBindingOf(ctx)))) {
      throw new AppError('not_found', { key: 'device.notFound' });
    }
  }

  async confirmEnrolment(user: User, device: Device, code: unknown, ctx: FactorContext): Promise<boolean> {
    const response = parseResponse<RegistrationResponseJSON>(code);
    const pending = await this.deps.challenges.take('register', ctx.flowId);
    if (!response || !pending || pending.deviceId !== device.id || device.enrolmentBinding !== enrolmentBindingOf(ctx)) return false;
    let info;
    try {
      const result = await verifyRegistrationResponse({
        response,
        expectedChallenge: pending.challenge,
        expectedOrigin: this.deps.rp.origin,
        expectedRPID: this.deps.rp.rpId,
        requireUserVerification: false,
      });
      if (!result.verified) return false;
      info = result.registrationInfo;
    } catch {
      return false;
    }
    const config: PasskeyConfig = {
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: (info.credential.transports ?? response.response.transports ?? []) as AuthenticatorTransport[],
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      aaguid: info.aaguid,
    };
    return this.deps.devices.setCredential(user.id, device.id, info.credential.id, config as unknown as Record<string, unknown>);
  }

  async beginChallenge(): Promise<void> {}

  /** A fresh assertion request for this flow, allowing each of the user's passkeys. */
  async describeChallenge(user: User, _device: Device, flowId: string): Promise<Record<string, unknown>> {
    const options = await generateAuthenticationOptions({
      rpID: this.deps.rp.rpId,
      allowCredentials: (await this.passkeysOf(user)).map((d) => ({ id: d.credentialId!, transports: configOf(d)?.transports })),
      userVerification: 'preferred',
    });
    await this.deps.challenges.put('authenticate', flowId, { challenge: options.challenge });
    return { options: JSON.stringify(options) };
  }

  /** Any of the user's own passkeys answers; a credential of someone else is not found. */
  async verify(user: User, _device: Device, code: unknown, ctx: FactorContext): Promise<boolean> {
    const response = parseResponse<AuthenticationResponseJSON>(code);
    const pending = await this.deps.challenges.take('authenticate', ctx.flowId);
    if (!response || !pending) return false;
    const device = (await this.passkeysOf(user)).find((d) => d.credentialId === response.id);
    return device ? this.accepts(device, response, pending.challenge, false, ctx, user.accountId) : false;
  }

  /** A discoverable-credential request: no user is known yet, so no credential is named. */
  async describeFirstFactor(flowId: string): Promise<Record<string, unknown>> {
    // As bytes: a string would be taken as text and encoded once more.
    const challenge = Buffer.from(this.deps.signin.issue(flowId), 'base64url');
    const options = await generateAuthenticationOptions({ rpID: this.deps.rp.rpId, allowCredentials: [], userVerification: 'required', challenge });
    return { options: JSON.stringify(options) };
  }

  /** Without a password the passkey is both factors: user verification is required. */
  async verifyFirstFactor(code: unknown, ctx: FactorContext): Promise<Device | undefined> {
    const response = parseResponse<AuthenticationResponseJSON>(code);
    const challenge = response && signedChallenge(response);
    if (!response || !challenge || response.id.length > 1400) return undefined;
    const issued = this.deps.signin.open(ctx.flowId, challenge);
    // Used up before the signature is checked: of two parallel answers only one goes on.
    if (!issued || !(await this.deps.challenges.markUsed(issued.nonce, issued.secondsLeft))) return undefined;
    const device = await this.deps.devices.findByCredentialId(response.id);
    if (!device || device.kind !== 'passkey') return undefined;
    // The user handle, when the authenticator returns one, must be the credential's owner.
    const handle = response.response.userHandle;
    if (handle && handle !== Buffer.from(device.userId).toString('base64url')) return undefined;
    return (await this.accepts(device, response, challenge, true, ctx, null)) ? device : undefined;
  }

  /**
   * Verifies an assertion of `device` against its challenge, then applies the counter rule in
   * one atomic statement (not on the stored value read here).
   */
  private async accepts(
    device: Device,
    response: AuthenticationResponseJSON,
    challenge: string,
    requireUserVerification: boolean,
    ctx: FactorContext,
    accountId: string | null,
  ): Promise<boolean> {
    const config = configOf(device);
    if (!config) return false;
    let newCounter: number;
    try {
      const result = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: this.deps.rp.origin,
        expectedRPID: this.deps.rp.rpId,
        credential: { id: device.credentialId!, publicKey: Buffer.from(config.publicKey, 'base64url'), counter: 0, transports: config.transports },
        requireUserVerification,
      });
      if (!result.verified || (requireUserVerification && !result.authenticationInfo.userVerified)) return false;
      newCounter = result.authenticationInfo.newCounter;
    } catch {
      return false;
    }
    if (await this.deps.devices.acceptSignatureCounter(device.id, newCounter)) return true;
    // A counter that did not go up: a cloned authenticator, or a replay that got this far.
    await this.deps.audit.record('passkey.counter_regression', {
      accountId,
      subjectUserId: device.userId,
      actorUserId: device.userId,
      origin: ctx.origin,
      details: { deviceId: device.id, counter: newCounter, stored: config.counter },
    });
    return false;
  }

  private async passkeysOf(user: User): Promise<Device[]> {
    return (await this.deps.devices.listForUser(user.id)).filter((d) => d.kind === 'passkey' && d.verifiedAt && d.credentialId);
  }
}

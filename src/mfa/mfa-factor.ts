import crypto from 'node:crypto';
import type { SecondFactorAmr } from '../oidc/authentication-context.js';
import type { Device, DeviceKind, PendingLimits } from '../storage/repositories/devices-repository.js';
import type { User } from '../storage/repositories/users-repository.js';
import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import type { Config } from '../config/config-schema.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Logger } from '../logger.js';
import type { EphemeralStore } from '../storage/ephemeral-store.js';
import type { MessageKey } from '../i18n/catalogues/en.js';
import type { DataStore } from '../storage/repositories/index.js';

/** Where a challenge or enrolment happens: binds codes and enrolment secrets to one flow. */
export interface FactorContext {
  /** The interaction, or `account:<session id>` for self-service: secret to its browser. */
  flowId: string;
  origin: RequestOrigin;
}

/**
 * What a device being enrolled records of the flow that created it: only that flow is shown
 * its secret. The flow id is itself unguessable; the hash keeps it out of the database.
 */
export function enrolmentBindingOf(ctx: FactorContext): string {
  return crypto.createHash('sha256').update(`enrolment:${ctx.flowId}`).digest('base64url');
}

/**
 * What the enrolment page shows for a device not yet verified; each factor extends it with what
 * its own view fragment needs (QR code, masked number).
 */
export interface EnrolmentView {
  kind: DeviceKind;
  /** The enrolment material belongs to another sign-in or session: new material must be asked for (no code form). */
  renewable?: boolean;
}

/** What a factor's create() may build on: shared services, never an HTTP request. */
export interface FactorDeps {
  config: Config;
  data: DataStore;
  store: EphemeralStore;
  box: SecretBox;
  audit: AuditLog;
  logger: Logger;
  pendingLimits: PendingLimits;
}

/**
 * A factor as the server knows it before anything runs: its words, the amr it proves, how its
 * devices are named and shown. Its pages come from views/factors/<kind>/; its words are catalogue
 * keys (src/i18n/catalogues), shown in the page's language.
 */
export interface FactorModule<K extends string = string, A extends string = string> {
  readonly kind: K;
  /** The RFC 8176 amr value a successful verification proves. */
  readonly amr: A;
  /** Other amr values a verification may prove, depending on the device (a synced passkey's swk). */
  readonly otherAmr?: readonly A[];
  /** The sign-in metrics' method label. */
  readonly metricsLabel: string;
  /** Its short name: the choose-method button, the devices table, the admin page ("SMS"). */
  readonly label: MessageKey;
  /** Its name as a default method ("Mobile Passcode Application"). */
  readonly methodLabel: MessageKey;
  /** The choose-method page's line about it. */
  readonly chooseHint: MessageKey;
  /** Its part of the /account sentence on what a second step can be. */
  readonly blurb: MessageKey;
  /** The /account button and the add page's title. */
  readonly addButton: MessageKey;
  readonly addTitle: MessageKey;
  /** Verify button of the enrolment page. */
  readonly verifyButton: MessageKey;
  /** A wrong code at enrolment. */
  readonly invalidEnrolmentCode: MessageKey;
  /** Set when the factor sends codes: a resend is offered, and this says one went out at enrolment. */
  readonly resentNotice?: MessageKey;
  /** Shown while a new device waits to replace an old one of its kind. */
  readonly replacingNotice?: MessageKey;
  /** A failed sign-in challenge, when not the generic "Invalid code". */
  readonly invalidChallengeCode?: MessageKey;
  /** Its fragments hold their own forms (part "form"): the generic pages show no code field. */
  readonly ownForm?: boolean;
  /** It resists phishing (acr phr): a sign-in that asks for phr accepts only such factors. */
  readonly phishingResistant?: boolean;
  /** The device's name on the account pages ("•••• 1234", a nickname). */
  deviceName(device: Device): string;
  /** The device on the sign-in pages ("SMS: •••• 1234"). */
  signInLabel(device: Device): string;
  /** The device in a mail: never a full number or a secret. */
  noticeName(device: { nickname?: string | null; phoneE164?: string | null }): string;
  /** Its admin-API fields (every device has both keys, null when not the factor's). */
  adminView(device: Device): { nickname: string | null; phoneLast4: string | null };
  /** The device's name from those fields (the admin page's device list). */
  adminName(view: { nickname: string | null; phoneLast4: string | null }): string;
  create(deps: FactorDeps): MfaFactor;
}

/**
 * One second factor. A new factor (WebAuthn, say) implements this and registers itself;
 * the sign-in flow and the self-service pages never branch on the kind.
 */
export interface MfaFactor {
  readonly kind: DeviceKind;
  /** The RFC 8176 amr value a successful verification proves. */
  readonly amr: SecondFactorAmr;
  /** Creates an unverified device from the user's input (nickname, phone…), bound to ctx's flow. */
  beginEnrolment(user: User, input: Record<string, unknown>, ctx: FactorContext): Promise<Device>;
  /** What the user needs to finish enrolment (QR code, masked number) in this flow. */
  describeEnrolment(user: User, device: Device, ctx: FactorContext): Promise<EnrolmentView>;
  /**
   * Where the browser finishes enrolment by itself (a WebAuthn creation request): what it needs,
   * as JSON, bound to ctx's flow. Such a factor is added on one page, without an enrolment page.
   */
  enrolmentOptions?(user: User, device: Device, ctx: FactorContext): Promise<Record<string, unknown>>;
  /** Sends a new enrolment code where the factor has one (SMS PIN). */
  beginEnrolmentResend?(user: User, device: Device, ctx: FactorContext): Promise<void>;
  /** Issues fresh enrolment material (a new TOTP secret) to ctx's flow. */
  renewEnrolment?(user: User, device: Device, ctx: FactorContext): Promise<void>;
  /** Checks the enrolment code; the device is marked verified by the caller. */
  confirmEnrolment(user: User, device: Device, code: unknown, ctx: FactorContext): Promise<boolean>;
  /** Prepares a sign-in challenge (sends an SMS; nothing for TOTP). */
  beginChallenge(user: User, device: Device, ctx: FactorContext): Promise<void>;
  /** For factors that send a code: whether one is waiting for this flow (what the page may claim). */
  challengeCodeSent?(device: Device, flowId: string): Promise<boolean>;
  /** What the challenge fragment needs for this flow (a WebAuthn request), issued fresh on each page. */
  describeChallenge?(user: User, device: Device, flowId: string): Promise<Record<string, unknown>>;
  /** The amr a verification with this device proves, when it depends on the device. */
  amrFor?(device: Device): SecondFactorAmr;
  /** Options for a sign-in that starts from this factor alone (a discoverable passkey), bound to the flow. */
  describeFirstFactor?(flowId: string): Promise<Record<string, unknown>>;
  /** The verified device that answered such a sign-in (user verification required), or undefined. */
  verifyFirstFactor?(code: unknown, ctx: FactorContext): Promise<Device | undefined>;
  /**
   * True when the code is right; single use (a replayed code is false). A factor whose use of
   * the code also cleared the user's failure count (in the same write, unless the user was
   * locked by then) says so with a `CountedUse`; on plain true the caller clears it.
   */
  verify(user: User, device: Device, code: unknown, ctx: FactorContext): Promise<boolean | CountedUse>;
}

/** A right code whose use cleared the failure count too: `unlocked` false when a lock came first. */
export interface CountedUse {
  unlocked: boolean;
}

import type { AuditEventType, AuditLog, AuditRecordInput, RequestOrigin } from '../audit/audit-log.js';
import type { PasswordLogin } from '../accounts/password-login.js';
import { AppError } from '../http/app-error.js';
import { authenticationContext, type SecondFactorAmr } from '../oidc/authentication-context.js';
import { isInteractionUid } from '../oidc/interaction-uid.js';
import { loginTimestamp } from '../oidc/session-validity.js';
import type { Device } from '../storage/repositories/devices-repository.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { Lookups } from '../storage/cached-lookups.js';
import type { SignInState, SignInStateRepository } from '../storage/repositories/sign-in-state-repository.js';
import type { User, UserAuthState } from '../storage/repositories/users-repository.js';
import type { FactorRegistry } from './factor-registry.js';
import { factorOf } from './factors/index.js';
import type { Lockout } from './lockout.js';
import type { RecoveryCodes } from './recovery-codes.js';
import type { EnrolmentView, FactorContext, MfaFactor } from './mfa-factor.js';
import { messageOf, type Message, type Shown } from '../i18n/translator.js';
import type { SecurityNotices } from '../mail/security-notices.js';

export interface DeviceSummary {
  id: string;
  kind: Device['kind'];
  /** "SMS: •••• 1234": the device among the user's others. */
  label: string;
  /** "•••• 1234": the device on its own factor's page. */
  name: string;
  isDefault: boolean;
}

export interface LoginResult {
  accountId: string;
  acr: string;
  amr: string[];
  ts: number;
}

/** What the sign-in needs next; routes turn it into a page or finish the interaction. */
export type SignInStep =
  | { kind: 'complete'; login: LoginResult }
  | { kind: 'locked' }
  /** `codeSent`: a code is on its way for this sign-in (factors that send one); pages claim no more. */
  | {
      kind: 'challenge';
      device: DeviceSummary;
      alternatives: DeviceSummary[];
      recoveryLeft: number;
      codeSent: boolean;
      /** What the factor's challenge fragment needs (a WebAuthn request). */
      view?: Record<string, unknown>;
      error?: Shown;
      notice?: Shown;
    }
  | { kind: 'notice' }
  | { kind: 'choose'; methods: Device['kind'][] }
  | { kind: 'enrol-start'; method: Device['kind']; error?: Shown; values?: Record<string, string> }
  | { kind: 'enrol'; device: DeviceSummary; view: EnrolmentView; error?: Shown; notice?: Shown };

export const INVALID_CODE: Message = { key: 'mfa.invalidCode' };

/** A sign-in state's read started early (SignInFlow.readAhead). */
export interface StateReadAhead {
  readonly flowId: string;
  readonly state: Promise<SignInState | undefined>;
}

export function summarise(device: Device): DeviceSummary {
  const factor = factorOf(device.kind);
  return { id: device.id, kind: device.kind, label: factor.signInLabel(device), name: factor.deviceName(device), isDefault: device.isDefault };
}

/**
 * The sign-in state machine, after oidc-provider asked for a login:
 * password → (locked | MFA challenge | forced enrolment | done). Its state lives server-side
 * under the interaction id; nothing here sees an HTTP request.
 */
export class SignInFlow {
  constructor(
    private readonly data: DataStore,
    /** The user's sign-in state, always read fresh (and kept for the requests that follow). */
    private readonly authStates: Pick<Lookups, 'readAuthState'>,
    private readonly states: SignInStateRepository,
    private readonly passwords: PasswordLogin,
    private readonly factors: FactorRegistry,
    private readonly lockout: Lockout,
    private readonly audit: AuditLog,
    private readonly recoveryCodes: RecoveryCodes,
    /** How long a session's password counts as recent enough to enrol a device on. */
    private readonly reauthMaxAgeSeconds: number,
    private readonly notices?: SecurityNotices,
  ) {}

  /** Username and password; then whatever the user's devices and the policy demand. */
  async submitPassword(flowId: string, username: unknown, password: unknown, mfaRequested: boolean, origin: RequestOrigin, phr = false): Promise<SignInStep> {
    const { next } = await this.passwords.verify(username, password, origin, (auth) => this.afterFirstFactor(flowId, auth.user, mfaRequested, origin, phr, auth));
    return next!;
  }

  /**
   * Step-up: the session already proved the password (at `sessionLoginTs`, epoch seconds); only
   * the second factor is asked. Undefined: the password must be proven again first.
   */
  async stepUp(flowId: string, userId: string, sessionLoginTs: number | undefined, origin: RequestOrigin, phr = false): Promise<SignInStep | undefined> {
    const auth = await this.authStates.readAuthState(userId, true);
    if (!auth) throw new AppError('interaction_expired', { key: 'mfa.signInExpired' });
    if (sessionLoginTs === undefined) return undefined;
    // Enrolling binds a new factor to the account: on an old password, whoever sits at an
    // unattended session could bind their own. Decided before any state exists, so no
    // parallel request of this interaction can start an enrolment meanwhile.
    const recent = Date.now() / 1000 - sessionLoginTs <= this.reauthMaxAgeSeconds;
    if (!recent && !auth.hasVerifiedDevice) return undefined;
    const step = await this.afterFirstFactor(flowId, auth.user, true, origin, phr, auth);
    const state = await this.states.get(flowId);
    // The device went away since: no enrolment on the old password either.
    if (!recent && state?.stage === 'enrol') {
      await this.states.clear(flowId);
      return undefined;
    }
    if (state) await this.states.save(flowId, { ...state, stepUpOf: sessionLoginTs });
    return step;
  }

  /**
   * Starts reading the sign-in's state as soon as a request names its interaction, alongside
   * the interaction's own read (one wait, not two). Only what a request that then proved the
   * interaction is its own passes on to the methods below.
   */
  readAhead(flowId: string): StateReadAhead | undefined {
    if (!isInteractionUid(flowId)) return undefined;
    const state = this.states.get(flowId);
    // Until a method awaits it, a failed read belongs to no one (the interaction may be gone).
    state.catch(() => undefined);
    return { flowId, state };
  }

  private stateOf(flowId: string, ahead?: StateReadAhead): Promise<SignInState | undefined> {
    return ahead?.flowId === flowId ? ahead.state : this.states.get(flowId);
  }

  /** The current step, for showing the page again (refresh, back button). */
  async current(flowId: string, origin: RequestOrigin, ahead?: StateReadAhead): Promise<SignInStep | undefined> {
    const state = await this.stateOf(flowId, ahead);
    if (!state) return undefined;
    const user = await this.data.users.findById(state.userId);
    if (!user) return undefined;
    if (user.lockedAt) return { kind: 'locked' };
    if (state.stage === 'challenge') return this.challengeStep(flowId, user, state);
    return this.enrolmentStep(flowId, user, state, origin);
  }

  async verifyChallenge(flowId: string, code: unknown, origin: RequestOrigin, ahead?: StateReadAhead): Promise<SignInStep> {
    const { state, user, auth, device: stateDevice } = await this.load(flowId, ahead);
    if (user.lockedAt) return { kind: 'locked' };
    if (state.stage !== 'challenge') return this.enrolmentStep(flowId, user, state, origin);
    const device = ofStage(stateDevice, true);
    if (!device) return this.afterFirstFactor(flowId, user, state.mfaRequired, origin, state.phr, auth);
    const factor = this.factors.get(device.kind);
    const verdict = await factor.verify(user, device, code, this.factorContext(flowId, origin));
    if (!verdict) {
      const locked = await this.lockout.recordFailure(user, origin, device.kind);
      if (locked) return { kind: 'locked' };
      // A wrong code changed neither the devices nor the codes left: the page needs no new read.
      const step = await this.challengeStep(flowId, user, state, { devices: auth.devices, recoveryLeft: auth.recoveryCodesLeft });
      return step.kind === 'challenge' ? { ...step, error: messageOf(factorOf(device.kind).invalidChallengeCode) ?? INVALID_CODE } : step;
    }
    const unlocked = verdict === true ? await this.lockout.recordSuccess(user) : verdict.unlocked;
    if (!unlocked) return { kind: 'locked' };
    return this.complete(flowId, user, factor.amrFor?.(device) ?? factor.amr, origin, {
      loaded: auth,
      state,
      phishingResistantFactor: phishingResistant(device),
      proof: mfaOk(user, origin, device.kind),
    });
  }

  /** What the login page offers besides the password: each factor that can sign in on its own, with its request. */
  async firstFactorOptions(flowId: string): Promise<{ kind: Device['kind']; view: Record<string, unknown> }[]> {
    const out: { kind: Device['kind']; view: Record<string, unknown> }[] = [];
    for (const kind of this.factors.kinds()) {
      const factor = this.factors.get(kind);
      if (factor.describeFirstFactor) out.push({ kind, view: await factor.describeFirstFactor(flowId) });
    }
    return out;
  }

  /**
   * A sign-in without a password (a discoverable passkey with user verification). Undefined
   * when the response is not recognised. Locks and the account's policy hold as for any sign-in.
   */
  async signInWithFactor(flowId: string, kind: unknown, code: unknown, origin: RequestOrigin, phr = false): Promise<SignInStep | undefined> {
    const factor = this.factors.get(String(kind));
    if (!factor.verifyFirstFactor) throw new AppError('bad_request', { key: 'mfa.methodUnavailable' });
    const device = await factor.verifyFirstFactor(code, this.factorContext(flowId, origin));
    if (!device) return undefined;
    const auth = await this.authStates.readAuthState(device.userId);
    if (!auth || auth.user.lockedAt) return { kind: 'locked' };
    if (!(await this.lockout.recordSuccess(auth.user))) return { kind: 'locked' };
    await this.states.save(flowId, { userId: auth.user.id, mfaRequired: true, stage: 'challenge', deviceId: device.id, ...(phr ? { phr } : {}) });
    return this.complete(flowId, auth.user, factor.amrFor?.(device) ?? factor.amr, origin, {
      loaded: auth,
      phishingResistantFactor: phishingResistant(device),
      password: false,
      proof: mfaOk(auth.user, origin, device.kind),
    });
  }

  /** "Use a recovery code": any unused code, once; wrong codes count towards the lock. */
  async verifyRecoveryCode(flowId: string, code: unknown, origin: RequestOrigin, ahead?: StateReadAhead): Promise<SignInStep> {
    const { state, user, auth } = await this.load(flowId, ahead);
    if (user.lockedAt) return { kind: 'locked' };
    if (state.stage !== 'challenge') return this.enrolmentStep(flowId, user, state, origin);
    // A recovery code is not phishing resistant: it never answers a request for phr.
    if (state.phr) throw new AppError('bad_request', { key: 'signIn.needsPasskey' });
    if (!(await this.recoveryCodes.use(user, code, origin))) {
      if (await this.lockout.recordFailure(user, origin, 'recovery_code')) return { kind: 'locked' };
      const step = await this.challengeStep(flowId, user, state);
      return step.kind === 'challenge' ? { ...step, error: INVALID_CODE } : step;
    }
    if (!(await this.lockout.recordSuccess(user))) return { kind: 'locked' };
    // A recovery code is a one-time password in RFC 8176's sense: amr otp (+ mfa).
    return this.complete(flowId, user, 'otp', origin, { loaded: auth, state, proof: mfaOk(user, origin, 'recovery_code') });
  }

  /** "Use another method": challenge another verified device of the same user. */
  async switchDevice(flowId: string, deviceId: unknown, origin: RequestOrigin): Promise<SignInStep> {
    const { state, user, auth } = await this.load(flowId);
    if (user.lockedAt) return { kind: 'locked' };
    if (state.stage !== 'challenge' || typeof deviceId !== 'string') return (await this.current(flowId, origin))!;
    const device = auth.devices?.find((d) => d.id === deviceId);
    if (!device?.verifiedAt || (state.phr && !phishingResistant(device))) throw new AppError('bad_request', { key: 'mfa.deviceUnavailable' });
    const next = { ...state, deviceId: device.id };
    await this.states.save(flowId, next);
    return this.startChallenge(flowId, user, next, device, origin);
  }

  /** "Resend code": a new code replaces the old one (limits and cooldown apply). */
  async resendChallenge(flowId: string, origin: RequestOrigin): Promise<SignInStep> {
    const { state, user, device: stateDevice } = await this.load(flowId);
    if (user.lockedAt) return { kind: 'locked' };
    const device = state.stage === 'challenge' ? ofStage(stateDevice, true) : undefined;
    if (!device) return (await this.current(flowId, origin))!;
    return this.startChallenge(flowId, user, state, device, origin, { key: 'mfa.codeResent' });
  }

  /** "Request a new PIN" for a device being enrolled whose factor sends codes. */
  async resendEnrolmentCode(flowId: string, origin: RequestOrigin): Promise<SignInStep> {
    const { state, user, device: stateDevice } = await this.load(flowId);
    if (user.lockedAt) return { kind: 'locked' };
    if (state.stage !== 'enrol') return this.challengeStep(flowId, user, state);
    const device = ofStage(stateDevice, false);
    const step = await this.enrolmentStep(flowId, user, state, origin);
    if (!device || step.kind !== 'enrol') return step;
    try {
      const factor = this.factors.get(device.kind);
      if (!factor.beginEnrolmentResend) return step;
      await factor.beginEnrolmentResend(user, device, this.factorContext(flowId, origin));
      return { ...step, notice: messageOf(factorOf(device.kind).resentNotice) };
    } catch (err) {
      const message = shownOnPage(err);
      if (!message) throw err;
      return { ...step, error: message };
    }
  }

  private async startChallenge(flowId: string, user: User, state: SignInState, device: Device, origin: RequestOrigin, notice?: Shown, known?: Known): Promise<SignInStep> {
    try {
      await this.factors.get(device.kind).beginChallenge(user, device, this.factorContext(flowId, origin));
    } catch (err) {
      const message = shownOnPage(err);
      const step = await this.challengeStep(flowId, user, state, known);
      if (!message || step.kind !== 'challenge') throw err;
      // Nothing was sent: the page says why, and claims a code only if an earlier one is still valid.
      return { ...step, error: message };
    }
    const step = await this.challengeStep(flowId, user, state, known);
    return step.kind === 'challenge' && notice ? { ...step, notice } : step;
  }

  /** "Set Up Multi-Factor Authentication": the list of methods. */
  async chooseMethod(flowId: string, origin: RequestOrigin): Promise<SignInStep> {
    const { state, user } = await this.load(flowId);
    if (user.lockedAt) return { kind: 'locked' };
    if (state.stage !== 'enrol') return this.challengeStep(flowId, user, state);
    const challenge = await this.challengeInstead(flowId, user, state, origin);
    if (challenge) return challenge;
    return { kind: 'choose', methods: this.methodsFor(state) };
  }

  async beginEnrolment(flowId: string, kind: unknown, input: Record<string, unknown>, origin: RequestOrigin): Promise<SignInStep> {
    const open = await this.openEnrolment(flowId, kind, origin);
    if ('step' in open) return open.step;
    const { state, user, factor } = open;
    try {
      const next = await this.addDevice(flowId, user, state, factor, input, origin);
      return this.enrolmentStep(flowId, user, next, origin);
    } catch (err) {
      const message = shownOnPage(err);
      if (!message) throw err;
      return { kind: 'enrol-start', method: factor.kind, error: message, values: stringValues(input) };
    }
  }

  /**
   * The one-page enrolment of a factor the browser enrols itself: the new device's options, or
   * the step to show instead. This sign-in's own unfinished try of that kind (a cancelled
   * ceremony) is dropped once the new device exists, so retries do not pile up devices waiting
   * for verification. A refused input throws (its message is for the page) and changes nothing.
   */
  async beginBrowserEnrolment(
    flowId: string,
    kind: unknown,
    input: Record<string, unknown>,
    origin: RequestOrigin,
  ): Promise<{ options: Record<string, unknown> } | { step: SignInStep }> {
    const open = await this.openEnrolment(flowId, kind, origin);
    if ('step' in open) return open;
    const { state, user, factor } = open;
    if (!factor.enrolmentOptions) throw new AppError('bad_request', { key: 'mfa.methodUnavailable' });
    const earlier = await this.deviceOf(user, state, false);
    // The new device first: a refused input changes nothing.
    const next = await this.addDevice(flowId, user, state, factor, input, origin);
    if (earlier?.kind === factor.kind) await this.data.devices.removePending(user.id, earlier.id);
    const device = (await this.deviceOf(user, next, false))!;
    return { options: await factor.enrolmentOptions(user, device, this.factorContext(flowId, origin)) };
  }

  /** An enrolment may start: the sign-in is at that stage, the user not locked, the method offered. */
  private async openEnrolment(flowId: string, kind: unknown, origin: RequestOrigin): Promise<{ step: SignInStep } | { state: SignInState; user: User; factor: MfaFactor }> {
    const { state, user } = await this.load(flowId);
    if (user.lockedAt) return { step: { kind: 'locked' } };
    if (state.stage !== 'enrol') return { step: await this.challengeStep(flowId, user, state) };
    const challenge = await this.challengeInstead(flowId, user, state, origin);
    if (challenge) return { step: challenge };
    const factor = this.factors.get(String(kind));
    if (!this.methodsFor(state).includes(factor.kind)) throw new AppError('bad_request', { key: 'mfa.methodUnavailable' });
    return { state, user, factor };
  }

  /** Creates the unverified device from the user's input, audited, as this sign-in's device. */
  private async addDevice(flowId: string, user: User, state: SignInState, factor: MfaFactor, input: Record<string, unknown>, origin: RequestOrigin): Promise<SignInState> {
    const device = await factor.beginEnrolment(user, input, this.factorContext(flowId, origin));
    await this.audit.record('device.added', {
      accountId: user.accountId,
      subjectUserId: user.id,
      actorUserId: user.id,
      origin,
      details: { kind: device.kind, deviceId: device.id },
    });
    const next = { ...state, deviceId: device.id };
    await this.states.save(flowId, next);
    return next;
  }

  /** Verifying the new device is the second factor: the sign-in completes with MFA. */
  async confirmEnrolment(flowId: string, code: unknown, origin: RequestOrigin): Promise<SignInStep> {
    const { state, user, device: stateDevice } = await this.load(flowId);
    if (user.lockedAt) return { kind: 'locked' };
    if (state.stage !== 'enrol') return this.challengeStep(flowId, user, state);
    const challenge = await this.challengeInstead(flowId, user, state, origin);
    if (challenge) return challenge;
    const device = ofStage(stateDevice, false);
    if (!device) return this.enrolmentStep(flowId, user, { ...state, deviceId: undefined }, origin);
    const factor = this.factors.get(device.kind);
    let ok: boolean;
    try {
      ok = await factor.confirmEnrolment(user, device, code, this.factorContext(flowId, origin));
    } catch (err) {
      const message = shownOnPage(err);
      const step = await this.enrolmentStep(flowId, user, state, origin);
      if (!message || step.kind !== 'enrol') throw err;
      return { ...step, error: message };
    }
    if (!ok) {
      const step = await this.enrolmentStep(flowId, user, state, origin);
      return step.kind === 'enrol' ? { ...step, error: { key: factorOf(device.kind).invalidEnrolmentCode } } : step;
    }
    // Only the user's first device is enrolled here: a device verified meanwhile elsewhere must
    // be passed instead. (Its password-only sessions and tokens end by the rule that a user with
    // a device is never accepted at aal1.)
    const verified = await this.data.transaction((tx) => tx.devices.markVerified(user.id, device.id, false, { onlyIfFirst: true }));
    if (!verified) return this.afterFirstFactor(flowId, user, state.mfaRequired, origin, state.phr);
    await this.audit.record('device.verified', {
      accountId: user.accountId,
      subjectUserId: user.id,
      actorUserId: user.id,
      origin,
      details: { kind: device.kind, deviceId: device.id },
    });
    // On verification, not on the unverified add: only a verified device can sign in.
    void this.notices?.deviceAdded(user, device, origin);
    return this.complete(flowId, user, factor.amrFor?.(device) ?? factor.amr, origin, { phishingResistantFactor: phishingResistant(device) });
  }

  /**
   * Enrolment is only for a user without a verified device: an interaction that began before a
   * device was verified elsewhere must now pass that device's challenge. Decided on fresh state.
   */
  private async challengeInstead(flowId: string, user: User, state: SignInState, origin: RequestOrigin): Promise<SignInStep | undefined> {
    const devices = await this.data.devices.listForUser(user.id);
    if (!devices.some((d) => d.verifiedAt)) return undefined;
    return this.afterFirstFactor(flowId, user, state.mfaRequired, origin, state.phr);
  }

  /** `auth`: what this request has read already (the account's policy; in a sign-in's read, the codes left and the devices). */
  private async afterFirstFactor(flowId: string, user: User, mfaRequested: boolean, origin: RequestOrigin, phr = false, auth?: UserAuthState): Promise<SignInStep> {
    if (user.lockedAt) return { kind: 'locked' };
    const [accountMfa, devices] = await Promise.all([
      auth?.accountMfaRequired ?? this.data.accounts.findById(user.accountId).then((account) => Boolean(account?.mfaRequired)),
      auth?.devices ?? this.data.devices.listForUser(user.id),
    ]);
    const mfaRequired = mfaRequested || phr || accountMfa;
    const verified = devices.filter((d) => d.verifiedAt);
    const usable = phr ? verified.filter(phishingResistant) : verified;
    // Asked for phr without a passkey: never passed through with a weaker factor.
    if (verified.length > 0 && usable.length === 0) {
      throw new AppError('forbidden', { key: 'signIn.needsPasskeySignIn' });
    }
    if (usable.length > 0) {
      const device = usable.find((d) => d.isDefault) ?? usable[0]!;
      const state: SignInState = { userId: user.id, mfaRequired, stage: 'challenge', deviceId: device.id, ...(phr ? { phr } : {}) };
      await this.states.save(flowId, state);
      return this.startChallenge(flowId, user, state, device, origin, undefined, { devices, recoveryLeft: auth?.recoveryCodesLeft });
    }
    if (mfaRequired) {
      await this.states.save(flowId, { userId: user.id, mfaRequired, stage: 'enrol', ...(phr ? { phr } : {}) });
      return { kind: 'notice' };
    }
    return this.complete(flowId, user, null, origin);
  }

  /**
   * Decides on fresh state: a lock or a policy change since the password must win. `loaded` is
   * the state read at the start of this request; a lock since then is caught by recordSuccess.
   */
  private async complete(
    flowId: string,
    user: User,
    secondFactor: SecondFactorAmr | null,
    origin: RequestOrigin,
    { loaded, state: known, phishingResistantFactor = false, password = true, proof }: CompleteOptions = {},
  ): Promise<SignInStep> {
    const auth = loaded ?? (await this.authStates.readAuthState(user.id));
    const proven = proof ? [proof] : [];
    if (!auth || auth.user.lockedAt) {
      await this.audit.recordAll(proven);
      return { kind: 'locked' };
    }
    const state = known ?? (await this.states.get(flowId));
    if (!secondFactor && (auth.accountMfaRequired || state?.mfaRequired)) return this.afterFirstFactor(flowId, auth.user, true, origin, state?.phr, auth);
    if (state?.phr && !phishingResistantFactor) {
      await this.audit.recordAll(proven);
      return this.afterFirstFactor(flowId, auth.user, true, origin, true, auth);
    }
    const { acr, amr } = authenticationContext(secondFactor, Boolean(state?.phr && phishingResistantFactor), password);
    await Promise.all([
      this.states.clear(flowId),
      // The second factor and the sign-in it completes are stored in one write.
      this.audit.recordAll([...proven, ['login.succeeded', { accountId: user.accountId, subjectUserId: user.id, actorUserId: user.id, origin, details: { acr, amr } }]]),
    ]);
    // auth_time is when the user last proved the password: a step-up adds the second factor
    // but no fresh password, so the session keeps its sign-in time (max_age and "recent
    // sign-in" checks must not take a code for a new password), moved only as far as a
    // sign-out mark set meanwhile (enrolling the first device sets one) requires.
    const ts = loginTimestamp(auth.sessionsValidAfter, state?.stepUpOf !== undefined ? state.stepUpOf * 1000 : undefined);
    return { kind: 'complete', login: { accountId: user.id, acr, amr, ts } };
  }

  /** The sign-in's state and its user, read with the user's devices: `device` is the state's (verified or not). */
  private async load(flowId: string, ahead?: StateReadAhead): Promise<{ state: SignInState; user: User; auth: UserAuthState; device?: Device }> {
    const state = await this.stateOf(flowId, ahead);
    const auth = state ? await this.authStates.readAuthState(state.userId, true) : undefined;
    if (!state || !auth) throw new AppError('interaction_expired', { key: 'mfa.signInExpired' });
    return { state, user: auth.user, auth, device: auth.devices?.find((d) => d.id === state.deviceId) };
  }

  private async deviceOf(user: User, state: SignInState, verified: boolean): Promise<Device | undefined> {
    return state.deviceId ? ofStage(await this.data.devices.findForUser(user.id, state.deviceId), verified) : undefined;
  }

  private async challengeStep(flowId: string, user: User, state: SignInState, known: Known = {}): Promise<SignInStep> {
    const verified = (known.devices ?? (await this.data.devices.listForUser(user.id))).filter((d) => d.verifiedAt && (!state.phr || phishingResistant(d)));
    const device = verified.find((d) => d.id === state.deviceId) ?? verified[0];
    if (!device) return { kind: 'notice' };
    const factor = this.factors.get(device.kind);
    const [recoveryLeft, codeSent, view] = await Promise.all([
      state.phr ? 0 : (known.recoveryLeft ?? this.recoveryCodes.left(user.id)),
      factor.challengeCodeSent?.(device, flowId) ?? false,
      factor.describeChallenge?.(user, device, flowId),
    ]);
    return {
      kind: 'challenge',
      device: summarise(device),
      alternatives: verified.filter((d) => d.id !== device.id).map(summarise),
      recoveryLeft,
      codeSent,
      ...(view ? { view } : {}),
    };
  }

  private async enrolmentStep(flowId: string, user: User, state: SignInState, origin: RequestOrigin): Promise<SignInStep> {
    const challenge = await this.challengeInstead(flowId, user, state, origin);
    if (challenge) return challenge;
    const device = await this.deviceOf(user, state, false);
    if (!device) return { kind: 'choose', methods: this.methodsFor(state) };
    const view = await this.factors.get(device.kind).describeEnrolment(user, device, this.factorContext(flowId, origin));
    return { kind: 'enrol', device: summarise(device), view };
  }

  /** The methods this sign-in may enrol: only phishing-resistant ones when phr was asked for. */
  private methodsFor(state: SignInState): Device['kind'][] {
    return this.factors.kinds().filter((k) => !state.phr || factorOf(k).phishingResistant);
  }

  private factorContext(flowId: string, origin: RequestOrigin): FactorContext {
    return { flowId, origin };
  }
}

type AuditEntry = [AuditEventType, AuditRecordInput];

/** What this request has read already, so that a page built from it reads nothing twice. */
interface Known {
  devices?: Device[];
  recoveryLeft?: number;
}

interface CompleteOptions {
  /** The user's state read at the start of this request. */
  loaded?: UserAuthState;
  /** The sign-in's state, when this request has read it already. */
  state?: SignInState;
  phishingResistantFactor?: boolean;
  /** Whether the user proved a password in this sign-in. */
  password?: boolean;
  /** The audit entry of the factor just passed, written with the outcome. */
  proof?: AuditEntry;
}

/** The audit event of a second factor passed, stored with the sign-in it completes. */
const mfaOk = (user: User, origin: RequestOrigin, method: string): AuditEntry => [
  'mfa.ok',
  { accountId: user.accountId, subjectUserId: user.id, actorUserId: user.id, origin, details: { method } },
];

/** The device if it is at the stage asked for (verified or still being enrolled). */
const ofStage = (device: Device | undefined, verified: boolean): Device | undefined => (device && Boolean(device.verifiedAt) === verified ? device : undefined);

const phishingResistant = (device: Device): boolean => Boolean(factorOf(device.kind).phishingResistant);

/** Errors shown on the same page (form kept) rather than as an error page. */
function shownOnPage(err: unknown): AppError | undefined {
  if (!(err instanceof AppError)) return undefined;
  if (err.code === 'sms_send_failed' || (err.status < 500 && err.code !== 'interaction_expired' && err.code !== 'csrf_failed')) return err;
  return undefined;
}

function stringValues(input: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(input)) if (typeof v === 'string') out[k] = v.slice(0, 200);
  return out;
}

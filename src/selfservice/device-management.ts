import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import { AppError } from '../http/app-error.js';
import type { FactorRegistry } from '../mfa/factor-registry.js';
import { factorOf, FACTOR_KINDS, isDeviceKind } from '../mfa/factors/index.js';
import { enrolmentBindingOf, type EnrolmentView, type FactorContext } from '../mfa/mfa-factor.js';
import type { RecoveryCodes } from '../mfa/recovery-codes.js';
import { signOutMark } from '../oidc/session-validity.js';
import type { Device, DeviceKind } from '../storage/repositories/devices-repository.js';
import type { DataStore, Repositories } from '../storage/repositories/index.js';
import type { User } from '../storage/repositories/users-repository.js';
import type { SecurityNotices } from '../mail/security-notices.js';

export interface DeviceListItem {
  id: string;
  kind: DeviceKind;
  kindLabel: string;
  name: string;
  verified: boolean;
  isDefault: boolean;
  /** Unverified, of a factor that sends codes: "Verify" sends a new one. */
  verifyByResend: boolean;
}

export interface DevicesOverview {
  devices: DeviceListItem[];
  recoveryCodesLeft: number;
  defaultKind: DeviceKind | null;
  /** Kinds the user could make default (has a verified device of that kind). */
  defaultChoices: DeviceKind[];
}

function item(d: Device): DeviceListItem {
  const factor = factorOf(d.kind);
  return {
    id: d.id,
    kind: d.kind,
    kindLabel: factor.label,
    name: factor.deviceName(d),
    verified: d.verifiedAt !== null,
    isDefault: d.isDefault,
    verifyByResend: d.verifiedAt === null && Boolean(factor.resentNotice),
  };
}

/**
 * "My Multi-Factor Devices": what a signed-in user may do to their own devices. Every method
 * takes the user from the caller's own session; device ids are always looked up within that
 * user's devices, so no id reaches another user's device.
 */
export class DeviceManagement {
  constructor(
    private readonly data: DataStore,
    private readonly factors: FactorRegistry,
    private readonly recoveryCodes: RecoveryCodes,
    private readonly audit: AuditLog,
    private readonly notices?: SecurityNotices,
  ) {}

  async overview(user: User): Promise<DevicesOverview> {
    const devices = await this.data.devices.listForUser(user.id);
    const verifiedKinds = [...new Set(devices.filter((d) => d.verifiedAt).map((d) => d.kind))];
    return {
      devices: devices.map(item),
      recoveryCodesLeft: await this.recoveryCodes.left(user.id),
      defaultKind: devices.find((d) => d.isDefault)?.kind ?? null,
      defaultChoices: FACTOR_KINDS.filter((k) => verifiedKinds.includes(k)),
    };
  }

  async hasVerifiedDevice(user: User): Promise<boolean> {
    return (await this.data.devices.listForUser(user.id)).some((d) => d.verifiedAt);
  }

  /** A device of the user; for one being enrolled, what this session may see of its enrolment. */
  async device(user: User, deviceId: string, flow: FactorContext): Promise<{ device: DeviceListItem; enrolment?: EnrolmentView }> {
    const device = await this.own(user, deviceId);
    const enrolment = device.verifiedAt ? undefined : await this.factors.get(device.kind).describeEnrolment(user, device, flow);
    return { device: item(device), enrolment };
  }

  async add(user: User, kind: DeviceKind, input: Record<string, unknown>, flow: FactorContext): Promise<DeviceListItem> {
    const device = await this.factors.get(kind).beginEnrolment(user, input, flow);
    await this.audit.record('device.added', {
      accountId: user.accountId,
      subjectUserId: user.id,
      actorUserId: user.id,
      origin: flow.origin,
      details: { kind, deviceId: device.id },
    });
    return item(device);
  }

  /**
   * Adding a device on one page, for a factor whose browser finishes enrolment itself: the new
   * device and what the browser needs. `previous` is this flow's own try that did not finish
   * (a cancelled ceremony): dropped, so retries do not pile up devices waiting for verification.
   */
  async addInBrowser(
    user: User,
    kind: DeviceKind,
    input: Record<string, unknown>,
    flow: FactorContext,
    previous?: string,
  ): Promise<{ deviceId: string; options: Record<string, unknown> }> {
    const factor = this.factors.get(kind);
    if (!factor.enrolmentOptions) throw new AppError('not_found', { key: 'device.notAddedThisWay' });
    // The new device first: a refused input changes nothing.
    const { id } = await this.add(user, kind, input, flow);
    const earlier = previous ? await this.data.devices.findForUser(user.id, previous) : undefined;
    if (earlier && earlier.id !== id && !earlier.verifiedAt && earlier.kind === kind && earlier.enrolmentBinding === enrolmentBindingOf(flow)) {
      await this.data.devices.removePending(user.id, earlier.id);
    }
    return { deviceId: id, options: await factor.enrolmentOptions(user, await this.own(user, id), flow) };
  }

  /** "Verify" on an unverified device of a factor that sends codes: a new one. */
  async resendPin(user: User, deviceId: string, flow: FactorContext): Promise<void> {
    const device = await this.own(user, deviceId);
    const factor = this.factors.get(device.kind);
    if (device.verifiedAt || !factor.beginEnrolmentResend) throw new AppError('bad_request', { key: 'device.alreadyVerified' });
    await factor.beginEnrolmentResend(user, device, flow);
  }

  /** "Show a new QR code": finishing an enrolment begun in another session issues new material to this one. */
  async renewEnrolment(user: User, deviceId: string, flow: FactorContext): Promise<void> {
    const device = await this.own(user, deviceId);
    const factor = this.factors.get(device.kind);
    if (device.verifiedAt || !factor.renewEnrolment) throw new AppError('bad_request', { key: 'device.alreadyVerified' });
    await factor.renewEnrolment(user, device, flow);
  }

  /**
   * Verifies a new device. With "make default" it becomes the default and every session of the
   * user ends (the user signs in again, with it); without, the user stays signed in, but the
   * other sessions still end when it replaces a number (every removal signs out). A first
   * device ends the password-only sessions by the rule that a user with a device is never
   * accepted at aal1.
   * `replaces` is the user's old device of the same kind (a changed number): removed in the same step.
   * `mark` is set when sessions were ended, so the caller's own session can carry on.
   */
  async verify(
    user: User,
    deviceId: string,
    code: unknown,
    options: { makeDefault: boolean; replaces?: string },
    flow: FactorContext,
  ): Promise<{ verified: boolean; signedOut: boolean; mark?: Date }> {
    const { origin } = flow;
    const device = await this.own(user, deviceId);
    if (device.verifiedAt) return { verified: true, signedOut: false };
    const factor = this.factors.get(device.kind);
    if (!(await factor.confirmEnrolment(user, device, code, flow))) return { verified: false, signedOut: false };
    const found = options.replaces ? await this.data.devices.findForUser(user.id, options.replaces) : undefined;
    const replaced = found && found.kind === device.kind && found.id !== device.id ? found : undefined;
    const makeDefault = options.makeDefault || Boolean(replaced?.isDefault);
    const { mark, reason } = await this.data.transaction(async (tx) => {
      await tx.users.lockRow(user.id);
      await tx.devices.markVerified(user.id, device.id, makeDefault);
      if (replaced) await tx.devices.remove(user.id, replaced.id);
      const why = options.makeDefault ? 'default_device_changed' : replaced ? 'device_removed' : undefined;
      return { mark: why ? await this.signOutEverywhere(tx, user) : undefined, reason: why };
    });
    await this.audit.record('device.verified', {
      accountId: user.accountId,
      subjectUserId: user.id,
      actorUserId: user.id,
      origin,
      details: { kind: device.kind, deviceId, makeDefault },
    });
    if (replaced)
      await this.audit.record('device.removed', {
        accountId: user.accountId,
        subjectUserId: user.id,
        actorUserId: user.id,
        origin,
        details: { kind: replaced.kind, deviceId: replaced.id, reason: 'number_changed' },
      });
    if (reason) await this.auditSignOut(user, origin, reason);
    // The notice goes out when the device is verified: an unverified one cannot sign in, and is dropped unless verified.
    void this.notices?.deviceAdded(user, device, origin, replaced);
    return { verified: true, signedOut: options.makeDefault, mark };
  }

  /** Removes one device; the user's other sessions end in the same transaction. Returns the sign-out mark. */
  async remove(user: User, deviceId: string, origin: RequestOrigin): Promise<Date> {
    const device = await this.own(user, deviceId);
    const mark = await this.data.transaction(async (tx) => {
      const signedOut = await this.signOutEverywhere(tx, user);
      await tx.devices.remove(user.id, device.id);
      return signedOut;
    });
    await this.audit.record('device.removed', { accountId: user.accountId, subjectUserId: user.id, actorUserId: user.id, origin, details: { kind: device.kind, deviceId } });
    await this.auditSignOut(user, origin, 'device_removed');
    void this.notices?.deviceRemoved(user, { device }, origin);
    return mark;
  }

  /** "Remove all devices": MFA off for the user (devices and recovery codes), sessions ended, in one transaction. */
  async removeAll(user: User, origin: RequestOrigin): Promise<Date> {
    const { removed, mark } = await this.data.transaction(async (tx) => {
      const signedOut = await this.signOutEverywhere(tx, user);
      const devices = await tx.devices.deleteAllForUser(user.id);
      await tx.recoveryCodes.deleteAll(user.id);
      return { removed: devices, mark: signedOut };
    });
    await this.audit.record('device.removed', { accountId: user.accountId, subjectUserId: user.id, actorUserId: user.id, origin, details: { all: true, count: removed } });
    await this.auditSignOut(user, origin, 'all_devices_removed');
    void this.notices?.deviceRemoved(user, { all: true, count: removed }, origin);
    return mark;
  }

  /** "Edit" the default method: the user's verified device of that kind becomes the default. */
  async setDefaultKind(user: User, kindInput: unknown, origin: RequestOrigin): Promise<Date> {
    const kind = isDeviceKind(kindInput) ? kindInput : undefined;
    const devices = (await this.data.devices.listForUser(user.id)).filter((d) => d.verifiedAt && d.kind === kind);
    if (!kind || devices.length === 0) throw new AppError('validation_failed', { key: 'default.chooseVerified' });
    const target = devices.find((d) => d.isDefault) ?? devices[0]!;
    const mark = await this.data.transaction(async (tx) => {
      const signedOut = await this.signOutEverywhere(tx, user);
      await tx.devices.setDefault(user.id, target.id);
      return signedOut;
    });
    await this.audit.record('device.default_changed', { accountId: user.accountId, subjectUserId: user.id, actorUserId: user.id, origin, details: { kind, deviceId: target.id } });
    await this.auditSignOut(user, origin, 'default_device_changed');
    return mark;
  }

  /** New recovery codes (the old set dies); the user's other sessions end in the same transaction. */
  async generateRecoveryCodes(user: User, quantity: number, origin: RequestOrigin): Promise<{ codes: string[]; mark: Date }> {
    let mark!: Date;
    const codes = await this.recoveryCodes.generate(user, quantity, origin, async (tx) => {
      mark = await this.signOutEverywhere(tx, user);
    });
    await this.auditSignOut(user, origin, 'recovery_codes_generated');
    return { codes, mark };
  }

  /**
   * Ends every session of the user, as the first statement of a change's own transaction: the
   * change and its sign-out commit together, and the user's row is locked first, so concurrent
   * changes of one user run one after the other (and never deadlock on each other's rows). The
   * mark is taken inside the transaction, so it follows the change's own start.
   */
  private signOutEverywhere(tx: Repositories, user: User): Promise<Date> {
    return tx.users.signOutEverywhere(user.id, signOutMark());
  }

  /** The audit record of a sign-out everywhere (the mark itself is set by signOutEverywhere). */
  private async auditSignOut(user: User, origin: RequestOrigin, reason: string): Promise<void> {
    await this.audit.record('sessions.revoked', { accountId: user.accountId, subjectUserId: user.id, actorUserId: user.id, origin, details: { scope: 'user', reason } });
  }

  private async own(user: User, deviceId: string): Promise<Device> {
    const device = await this.data.devices.findForUser(user.id, deviceId);
    if (!device) throw new AppError('not_found', { key: 'device.notFound' });
    return device;
  }
}

import { AppError } from '../http/app-error.js';
import type { DeviceKind } from '../storage/repositories/devices-repository.js';
import type { MfaFactor } from './mfa-factor.js';

/** The factors this server offers, in the order the "choose a method" page lists them. */
export class FactorRegistry {
  private readonly factors = new Map<DeviceKind, MfaFactor>();

  register(factor: MfaFactor): this {
    this.factors.set(factor.kind, factor);
    return this;
  }

  get(kind: string): MfaFactor {
    const factor = this.factors.get(kind as DeviceKind);
    if (!factor) throw new AppError('bad_request', 'That authentication method is not available.');
    return factor;
  }

  kinds(): DeviceKind[] {
    return [...this.factors.keys()];
  }
}

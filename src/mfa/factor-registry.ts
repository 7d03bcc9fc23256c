import { AppError } from '../http/app-error.js';
import type { DeviceKind } from './factors/index.js';
import type { FactorDeps, FactorModule, MfaFactor } from './mfa-factor.js';

/** The factors this server runs, in the order the "choose a method" page lists them. */
export class FactorRegistry {
  private readonly factors = new Map<DeviceKind, MfaFactor>();

  /** Each module's factor, built on the shared services. */
  static create(modules: readonly FactorModule<DeviceKind>[], deps: FactorDeps): FactorRegistry {
    const registry = new FactorRegistry();
    for (const m of modules) registry.register(m.create(deps));
    return registry;
  }

  register(factor: MfaFactor): this {
    this.factors.set(factor.kind, factor);
    return this;
  }

  get(kind: string): MfaFactor {
    const factor = this.factors.get(kind as DeviceKind);
    if (!factor) throw new AppError('bad_request', { key: 'mfa.methodUnavailable' });
    return factor;
  }

  kinds(): DeviceKind[] {
    return [...this.factors.keys()];
  }
}

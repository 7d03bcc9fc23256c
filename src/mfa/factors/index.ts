import type { FactorModule } from '../mfa-factor.js';
import { smsFactor } from './sms/index.js';
import { totpFactor } from './totp/index.js';
import { passkeyFactor } from './passkey/index.js';

/**
 * The factors this server offers, in the order users are offered them (SMS first). A new
 * factor is its own folder here, its views in views/factors/<kind>/, and one entry in this list.
 */
export const FACTORS = [smsFactor, totpFactor, passkeyFactor] as const;

export type DeviceKind = (typeof FACTORS)[number]['kind'];
/** The amr values the factors prove. */
export type FactorAmr = (typeof FACTORS)[number]['amr'];

export const FACTOR_KINDS: DeviceKind[] = FACTORS.map((f) => f.kind);

export function isDeviceKind(value: unknown): value is DeviceKind {
  return typeof value === 'string' && FACTOR_KINDS.includes(value as DeviceKind);
}

/** The factor of a stored device's kind (every stored kind is one of FACTORS). */
export function factorOf(kind: DeviceKind): FactorModule {
  return FACTORS.find((f) => f.kind === kind)!;
}

import type { FactorAmr } from '../mfa/factors/index.js';

/**
 * acr/amr of a sign-in (RFC 8176 amr values). `aal2` only when a second factor was proven
 * in this sign-in or on top of a password proven earlier in the same session. The second
 * factor's amr is a factor's own, or a recovery code's (`otp`).
 */
export type SecondFactorAmr = FactorAmr | 'otp';
export type Acr = 'aal1' | 'aal2';
export const ACR_VALUES: Acr[] = ['aal1', 'aal2'];

export function authenticationContext(secondFactor: SecondFactorAmr | null): { acr: Acr; amr: string[] } {
  if (!secondFactor) return { acr: 'aal1', amr: ['pwd'] };
  return { acr: 'aal2', amr: ['pwd', secondFactor, 'mfa'] };
}

/** Requested acr_values (space separated) ask for MFA. */
export function requestsMfa(acrValues: unknown): boolean {
  return typeof acrValues === 'string' && acrValues.split(' ').includes('aal2');
}

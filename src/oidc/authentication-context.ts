import type { FactorAmr } from '../mfa/factors/index.js';

/**
 * acr/amr of a sign-in (RFC 8176 amr values). `aal2` only when a second factor was proven
 * in this sign-in or on top of a password proven earlier in the same session. The second
 * factor's amr is a factor's own, or a recovery code's (`otp`). `phr` (phishing resistant)
 * only when the relying party asked for it and a phishing-resistant factor was proven.
 */
export type SecondFactorAmr = FactorAmr | 'otp';
export type Acr = 'aal1' | 'aal2' | 'phr';
export const ACR_VALUES: Acr[] = ['aal1', 'aal2', 'phr'];

export function authenticationContext(secondFactor: SecondFactorAmr | null, phr = false, password = true): { acr: Acr; amr: string[] } {
  if (!secondFactor) return { acr: 'aal1', amr: ['pwd'] };
  // A passkey with user verification alone is multi-factor (possession + the verification).
  return { acr: phr ? 'phr' : 'aal2', amr: [...(password ? ['pwd'] : []), secondFactor, 'mfa'] };
}

/** Requested acr_values (space separated) ask for MFA (phr is MFA too). */
export function requestsMfa(acrValues: unknown): boolean {
  return typeof acrValues === 'string' && acrValues.split(' ').some((v) => v === 'aal2' || v === 'phr');
}

/** Requested acr_values ask for a phishing-resistant sign-in. */
export function requestsPhr(acrValues: unknown): boolean {
  return typeof acrValues === 'string' && acrValues.split(' ').includes('phr');
}

/** An acr that proves a second factor. */
export const isMfaAcr = (acr: unknown): boolean => acr === 'aal2' || acr === 'phr';

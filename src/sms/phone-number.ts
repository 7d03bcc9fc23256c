import { getCountries, getCountryCallingCode, isSupportedCountry, parsePhoneNumberWithError, type CountryCode } from 'libphonenumber-js/max';
import { AppError } from '../http/app-error.js';

// The full ("max") metadata checks each number against its country's real number ranges;
// the default "min" metadata mostly checks lengths, which lets "wrong country" numbers through.

export interface CountryOption {
  /** ISO 3166-1 alpha-2 code: the value of the select option. */
  iso: string;
  name: string;
  /** Without the '+', e.g. "44". */
  callingCode: string;
  /** What the select shows, e.g. "United Kingdom (+44)". */
  label: string;
}

const MAX_INPUT_LENGTH = 64;
/** Digits with spaces, dashes, dots or brackets between them, optionally after a leading '+'. */
const ALLOWED_INPUT = /^\+?[ \u00A0(]*\d(?:[ \u00A0().-]*\d)*\)?$/;

const invalidPhoneNumber = (): AppError => new AppError('invalid_phone_number', { key: 'sms.invalidPhone' });

/** Accepts "44", "+44" or " +44 "; returns the bare digits, or null when it is not a calling code. */
function normaliseCallingCode(code: string): string | null {
  const bare = code.trim().replace(/^\+/, '');
  return /^\d{1,4}$/.test(bare) ? bare : null;
}

/**
 * True when the calling code may receive SMS. A missing or empty allow-list allows every code,
 * so that the sender and the country select agree on what "no allow-list" means.
 */
export function isCallingCodeAllowed(callingCode: string, allowedCallingCodes?: string[] | null): boolean {
  if (!allowedCallingCodes || allowedCallingCodes.length === 0) return true;
  const wanted = normaliseCallingCode(callingCode);
  if (wanted === null) return false;
  return allowedCallingCodes.some((c) => normaliseCallingCode(c) === wanted);
}

const optionsByLanguage = new Map<string, CountryOption[]>();

function buildCountryOptions(language: string): CountryOption[] {
  const names = new Intl.DisplayNames([language, 'en'], { type: 'region' });
  const options = getCountries().map((iso): CountryOption => {
    const callingCode = getCountryCallingCode(iso);
    const name = names.of(iso) ?? iso;
    return { iso, name, callingCode, label: `${name} (+${callingCode})` };
  });
  const collator = new Intl.Collator(language);
  return options.sort((a, b) => collator.compare(a.name, b.name) || a.iso.localeCompare(b.iso));
}

/**
 * Every country libphonenumber-js knows, named and sorted in `language` (English by default);
 * only allowed calling codes when an allow-list is given.
 */
export function countryOptions(allowedCallingCodes?: string[] | null, language = 'en'): CountryOption[] {
  let all = optionsByLanguage.get(language);
  if (!all) {
    all = buildCountryOptions(language);
    optionsByLanguage.set(language, all);
  }
  return all.filter((o) => isCallingCodeAllowed(o.callingCode, allowedCallingCodes)).map((o) => ({ ...o }));
}

/**
 * Validates what a user typed for the selected country and normalises it to E.164.
 *
 * The select is really a calling-code choice: several countries share one numbering plan
 * (+44 is GB, GG, JE and IM; +1 is the NANP), and libphonenumber-js files `+44 7911 123456`
 * under GG. So a number is accepted when it is valid in its numbering plan and that plan's
 * calling code is the selected country's one. A number of another calling code is rejected,
 * even when typed with its own '+' prefix.
 *
 * The returned `country` is the selected ISO code (upper case). Throws AppError
 * 'invalid_phone_number'; the error never carries the input.
 */
export function parsePhoneNumber(countryIso: string, input: string): { e164: string; country: string } {
  if (typeof countryIso !== 'string' || typeof input !== 'string') throw invalidPhoneNumber();
  if (input.length > MAX_INPUT_LENGTH) throw invalidPhoneNumber();
  const country = countryIso.trim().toUpperCase();
  if (!/^[A-Z]{2}$/.test(country) || !isSupportedCountry(country)) throw invalidPhoneNumber();
  const text = input.trim();
  if (text === '' || !ALLOWED_INPUT.test(text)) throw invalidPhoneNumber();

  const selected = country as CountryCode;
  let parsed;
  try {
    parsed = parsePhoneNumberWithError(text, { defaultCountry: selected, extract: false });
  } catch {
    throw invalidPhoneNumber();
  }
  if (parsed.countryCallingCode !== getCountryCallingCode(selected)) throw invalidPhoneNumber();
  if (parsed.ext) throw invalidPhoneNumber();
  if (!parsed.isValid()) throw invalidPhoneNumber();
  return { e164: parsed.number, country };
}

function digitsOf(e164: string): string {
  return e164.replace(/\D/g, '');
}

/** The last four digits of a stored number: all that is shown or logged after enrolment. */
export function last4(e164: string): string {
  return digitsOf(e164).slice(-4);
}

/** "•••• 1234". */
export function maskPhone(e164: string): string {
  return `•••• ${last4(e164)}`;
}

/** The calling code of an E.164 number, without '+', e.g. "44" for "+447911123456". */
export function callingCodeOf(e164: string): string {
  if (typeof e164 !== 'string' || !/^\+\d{4,15}$/.test(e164)) throw invalidPhoneNumber();
  try {
    return parsePhoneNumberWithError(e164).countryCallingCode;
  } catch {
    throw invalidPhoneNumber();
  }
}

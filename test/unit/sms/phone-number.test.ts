import { describe, expect, it } from '@jest/globals';
import { AppError } from '../../../src/http/app-error.js';
import { callingCodeOf, countryOptions, isCallingCodeAllowed, last4, maskPhone, parsePhoneNumber } from '../../../src/sms/phone-number.js';

function rejection(country: string, input: string): unknown {
  try {
    parsePhoneNumber(country, input);
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('parsePhoneNumber', () => {
  it.each([
    ['GB', '07911 123456', '+447911123456'],
    ['GB', '+44 7911 123456', '+447911123456'],
    ['GB', '+44 (0)7911 123456', '+447911123456'],
    ['GB', '07911-123-456', '+447911123456'],
    ['GB', '07400 123456', '+447400123456'],
    ['GB', '  07911.123.456  ', '+447911123456'],
    ['gb', '07911123456', '+447911123456'],
    ['US', '201-555-0123', '+12015550123'],
    ['US', '(201) 555-0123', '+12015550123'],
    ['US', '+1 201.555.0123', '+12015550123'],
    ['US', '2015550123', '+12015550123'],
    ['IN', '98765 43210', '+919876543210'],
    ['IN', '+91 98765-43210', '+919876543210'],
    ['DE', '0151 23456789', '+4915123456789'],
    ['DE', '+49 (151) 2345-6789', '+4915123456789'],
    ['BR', '(11) 91234-5678', '+5511912345678'],
    ['BR', '+55 11 98765 4321', '+5511987654321'],
  ])('accepts %s %j as %s', (country, input, e164) => {
    expect(parsePhoneNumber(country, input)).toEqual({ e164, country: country.toUpperCase() });
  });

  it.each([
    ['letters', 'GB', '0791l 123456'],
    ['only letters', 'US', 'call me'],
    ['a trailing extension', 'US', '201-555-0123 ext 5'],
    ['too short', 'GB', '0791'],
    ['too short for the country', 'US', '201-555-012'],
    ['too long', 'GB', '07911 1234567890'],
    ['too long for the country', 'DE', '0151 234567890123'],
    ['wrong country (another calling code typed)', 'DE', '+44 7911 123456'],
    ['wrong country (a Brazilian number as US)', 'US', '(11) 91234-5678'],
    ['wrong country (an Indian number as GB)', 'GB', '98765 43210'],
    ['empty', 'GB', ''],
    ['blank', 'GB', '   '],
    ['500 characters', 'GB', '1'.repeat(500)],
    ['65 characters of separators and digits', 'GB', `07911 123456${' '.repeat(53)}`],
    ['emoji', 'GB', '07911 123456 📱'],
    ['emoji digits', 'GB', '0️⃣7️⃣9️⃣1️⃣1️⃣ 123456'],
    ['unknown country code', 'ZZ', '07911 123456'],
    ['no country code', '', '07911 123456'],
    ['a calling code instead of a country', '44', '07911 123456'],
    ['a separator at the start', 'GB', '-07911 123456'],
    ['two pluses', 'GB', '++44 7911 123456'],
    ['a plus in the middle', 'GB', '07911+123456'],
    ['a slash', 'GB', '07911/123456'],
    ['a newline inside', 'GB', '07911\n123456'],
    ['non-ASCII digits', 'IN', '९८७६५ ४३२१०'],
    ['a zero number', 'GB', '00000 000000'],
  ])('rejects %s', (_label, country, input) => {
    const error = rejection(country, input);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('invalid_phone_number');
    expect((error as AppError).message).toBe('Invalid phone number');
    expect((error as AppError).status).toBe(422);
    if (input.trim().length >= 4) expect(JSON.stringify(error)).not.toContain(input.trim());
  });

  it('rejects inputs that are not strings', () => {
    expect(() => parsePhoneNumber('GB', undefined as unknown as string)).toThrow(AppError);
    expect(() => parsePhoneNumber(undefined as unknown as string, '07911 123456')).toThrow(AppError);
  });
});

describe('masking', () => {
  it('shows only the last four digits', () => {
    expect(maskPhone('+447911123456')).toBe('•••• 3456');
    expect(last4('+447911123456')).toBe('3456');
    expect(maskPhone('+12015550123')).not.toContain('201555');
  });
});

describe('callingCodeOf', () => {
  it('returns the calling code without +', () => {
    expect(callingCodeOf('+447911123456')).toBe('44');
    expect(callingCodeOf('+12015550123')).toBe('1');
    expect(callingCodeOf('+919876543210')).toBe('91');
    expect(callingCodeOf('+5511912345678')).toBe('55');
  });
  it('rejects something that is not E.164', () => {
    expect(() => callingCodeOf('07911 123456')).toThrow(AppError);
    expect(() => callingCodeOf('')).toThrow(AppError);
  });
});

describe('countryOptions', () => {
  const all = countryOptions();

  it('lists every supported country with English names, sorted by name', () => {
    expect(all.length).toBeGreaterThan(200);
    expect(all).toContainEqual({ iso: 'GB', name: 'United Kingdom', callingCode: '44', label: 'United Kingdom (+44)' });
    expect(all).toContainEqual({ iso: 'US', name: 'United States', callingCode: '1', label: 'United States (+1)' });
    expect(all.find((o) => o.iso === 'DE')?.label).toBe('Germany (+49)');
    const names = all.map((o) => o.name);
    expect(names).toEqual([...names].sort(new Intl.Collator('en').compare));
    expect(new Set(all.map((o) => o.iso)).size).toBe(all.length);
  });

  it('keeps only allowed calling codes when an allow-list is given', () => {
    const some = countryOptions(['44', '+49']);
    expect(new Set(some.map((o) => o.callingCode))).toEqual(new Set(['44', '49']));
    expect(some.map((o) => o.iso)).toEqual(expect.arrayContaining(['GB', 'GG', 'JE', 'IM', 'DE']));
    expect(some.map((o) => o.iso)).not.toContain('US');
  });

  it('treats a missing or empty allow-list as no restriction', () => {
    expect(countryOptions(null)).toHaveLength(all.length);
    expect(countryOptions([])).toHaveLength(all.length);
  });

  it('returns copies the caller may change', () => {
    countryOptions()[0].label = 'changed';
    expect(countryOptions()[0].label).not.toBe('changed');
  });

  it('agrees with isCallingCodeAllowed', () => {
    expect(isCallingCodeAllowed('44', ['+44'])).toBe(true);
    expect(isCallingCodeAllowed('1', ['44'])).toBe(false);
    expect(isCallingCodeAllowed('1', null)).toBe(true);
  });
});

import { describe, expect, it } from '@jest/globals';
import { decisionNote, disableRequestView, requestReason, type DisableRequest } from '../../../src/accounts/disable-request.js';
import type { AppError } from '../../../src/http/app-error.js';
import { translatorFor } from '../../../src/i18n/translator.js';

const refused = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return 'accepted';
};

describe('reasons and notes of disable requests', () => {
  it('keeps what was typed, trimmed, with line breaks as \\n', () => {
    expect(requestReason('  Kiosk\r\nterminals\rhave\tno phone \n')).toBe('Kiosk\nterminals\nhave\tno phone');
    expect(decisionNote(' fine ')).toBe('fine');
  });

  it('a reason is required; a note may be absent or empty', () => {
    for (const empty of [undefined, null, '', '   ', '\n\t']) expect(refused(() => requestReason(empty))).toBe('validation_failed');
    for (const empty of [undefined, null, '', '  ']) expect(decisionNote(empty)).toBeNull();
  });

  it('counts characters, not UTF-16 units: 1000 are allowed, 1001 are not', () => {
    expect(requestReason('😀'.repeat(1000))).toHaveLength(2000);
    expect(refused(() => requestReason('😀'.repeat(1001)))).toBe('validation_failed');
    expect(refused(() => decisionNote('x'.repeat(1001)))).toBe('validation_failed');
  });

  it('refuses other types, control characters, line separators and lone surrogates', () => {
    for (const bad of [42, true, ['a'], { a: 1 }, 'a\u0000b', 'a\u0007b', 'a\u001bb', 'a\u007fb', 'a\u0085b', 'a\u2028b', 'a\ud800b', 'a\udc00b', '\ud83d']) {
      expect({ bad, code: refused(() => requestReason(bad)) }).toEqual({ bad, code: 'validation_failed' });
      expect({ bad, code: refused(() => decisionNote(bad)) }).toEqual({ bad, code: 'validation_failed' });
    }
  });
});

describe('the words of a refusal', () => {
  const errorOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return err as AppError;
    }
    throw new Error('accepted');
  };

  it('names the field in its own sentence: English as before, and translated whole', () => {
    expect(errorOf(() => requestReason('')).message).toBe('Give a reason.');
    expect(errorOf(() => requestReason(42)).message).toBe('The reason must be text.');
    expect(errorOf(() => decisionNote(42)).message).toBe('The note must be text.');
    expect(errorOf(() => requestReason('x'.repeat(1001))).message).toBe('The reason can be at most 1000 characters long.');
    expect(errorOf(() => decisionNote('x'.repeat(1001))).message).toBe('The note can be at most 1000 characters long.');
    expect(errorOf(() => requestReason('a\u0000b')).message).toBe('The reason contains characters that cannot be shown.');
    expect(errorOf(() => decisionNote('a\u0000b')).message).toBe('The note contains characters that cannot be shown.');
    const de = translatorFor('de');
    expect(de.text(errorOf(() => requestReason('')))).toBe('Geben Sie eine Begründung an.');
    expect(de.text(errorOf(() => decisionNote('x'.repeat(1001))))).toBe('Die Notiz darf höchstens 1000 Zeichen lang sein.');
  });
});

describe('the view of a request', () => {
  const pending: DisableRequest = {
    id: 'r',
    accountId: 'a',
    status: 'pending',
    reason: 'why',
    requestedBy: 'u',
    createdAt: new Date('2026-12-01T10:00:00Z'),
    decidedBy: null,
    decidedAt: null,
    note: null,
  };

  it('has the decision fields only once decided', () => {
    expect(disableRequestView(pending)).toEqual({ id: 'r', accountId: 'a', status: 'pending', reason: 'why', requestedBy: 'u', createdAt: '2026-12-01T10:00:00.000Z' });
    const decided = { ...pending, status: 'rejected' as const, decidedBy: 's', decidedAt: new Date('2026-12-01T11:00:00Z') };
    expect(disableRequestView(decided)).toMatchObject({ status: 'rejected', decidedBy: 's', decidedAt: '2026-12-01T11:00:00.000Z', note: null });
  });
});

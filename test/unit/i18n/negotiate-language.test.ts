import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { fromAcceptLanguage, fromUiLocales, negotiateLanguage, supportedTagOf } from '../../../src/i18n/negotiate-language.js';
import { LANGUAGE_TAGS } from '../../../src/i18n/languages.js';

describe('choosing the language', () => {
  test('ui_locales outranks the picker cookie, which outranks Accept-Language, which outranks the default', () => {
    const all = { uiLocales: 'fr', cookie: 'de', acceptLanguage: 'es', defaultTag: 'ar' };
    expect(negotiateLanguage(all)).toBe('fr');
    expect(negotiateLanguage({ ...all, uiLocales: undefined })).toBe('de');
    expect(negotiateLanguage({ ...all, uiLocales: undefined, cookie: undefined })).toBe('es');
    expect(negotiateLanguage({ defaultTag: 'ar' })).toBe('ar');
  });

  test('the first supported ui_locales tag wins; regions fall back to their language', () => {
    expect(fromUiLocales('ja de-AT fr')).toBe('de');
    expect(fromUiLocales('pt-BR')).toBeUndefined();
    expect(fromUiLocales('AR')).toBe('ar');
    expect(supportedTagOf('es_MX')).toBe('es');
  });

  test('Accept-Language honours q-values and never picks q=0', () => {
    expect(fromAcceptLanguage('ja, de;q=0.5, fr;q=0.8')).toBe('fr');
    expect(fromAcceptLanguage('fr;q=0, es')).toBe('es');
    expect(fromAcceptLanguage('*')).toBeUndefined();
  });

  test('garbage anywhere falls back to a supported language and never throws', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ maxLength: 300 })), fc.option(fc.string({ maxLength: 300 })), fc.option(fc.string({ maxLength: 300 })), (ui, cookie, al) => {
        expect(LANGUAGE_TAGS).toContain(negotiateLanguage({ uiLocales: ui, cookie, acceptLanguage: al, defaultTag: 'en' }));
      }),
      { numRuns: 500 },
    );
    expect(negotiateLanguage({ uiLocales: 'de'.repeat(5000), acceptLanguage: ','.repeat(10_000), defaultTag: 'en' })).toBe('en');
    expect(negotiateLanguage({ uiLocales: ['de'], cookie: { toString: () => 'fr' }, defaultTag: 'es' })).toBe('es');
  });
});

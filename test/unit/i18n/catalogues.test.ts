import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { IntlMessageFormat } from 'intl-messageformat';
import { LANGUAGES } from '../../../src/i18n/languages.js';
import { en } from '../../../src/i18n/catalogues/en.js';

type Node = { type: number; value?: string; options?: Record<string, { value: Node[] }>; children?: Node[] };

/** Every argument name a message uses, plural and select branches included. */
function placeholdersOf(message: string, locale: string): string[] {
  const names = new Set<string>();
  const walk = (nodes: Node[]) => {
    for (const node of nodes) {
      // Types 1 to 6 are arguments (plain, number, date, time, select, plural); '#' (7) is not one.
      if (node.type >= 1 && node.type <= 6 && node.value) names.add(node.value);
      for (const option of Object.values(node.options ?? {})) walk(option.value);
      if (node.children) walk(node.children);
    }
  };
  walk(new IntlMessageFormat(message, locale).getAst() as Node[]);
  return [...names].sort();
}

function filesUnder(dir: string, ext: RegExp): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p, ext) : ext.test(e.name) ? [p] : [];
  });
}

describe('message catalogues', () => {
  const keys = Object.keys(en).sort();

  test.each(LANGUAGES.map((l) => [l.tag, l] as const))('%s has exactly the English keys, each a valid message with the same placeholders', (tag, language) => {
    expect(Object.keys(language.messages).sort()).toEqual(keys);
    for (const key of keys) {
      const source = en[key as keyof typeof en];
      const translated = language.messages[key as keyof typeof en];
      expect(translated.trim()).not.toBe('');
      expect({ key, placeholders: placeholdersOf(translated, tag) }).toEqual({ key, placeholders: placeholdersOf(source, 'en') });
    }
  });

  test('every key is used by the code or a view, so none rots unnoticed', () => {
    const root = path.resolve(import.meta.dirname, '../../..');
    const sources = [...filesUnder(path.join(root, 'src'), /\.ts$/), ...filesUnder(path.join(root, 'views'), /\.ejs$/)]
      .filter((f) => !f.includes(`${path.sep}i18n${path.sep}catalogues${path.sep}`))
      .map((f) => fs.readFileSync(f, 'utf8'))
      .join('\n');
    const unused = keys.filter((key) => !sources.includes(`'${key}'`));
    expect(unused).toEqual([]);
  });

  test('plural messages follow each language: one and many in English, Arabic dual', async () => {
    const { translatorFor } = await import('../../../src/i18n/translator.js');
    expect(translatorFor('en').t('recoveryCodes.left', { count: 1 })).toBe('You have 1 unused code left.');
    expect(translatorFor('en').t('recoveryCodes.left', { count: 7 })).toBe('You have 7 unused codes left.');
    expect(translatorFor('de').t('recoveryCodes.left', { count: 1 })).toBe('Sie haben noch 1 unbenutzten Code.');
    expect(translatorFor('ar').t('recoveryCodes.left', { count: 2 })).toContain('رمزان');
  });
});

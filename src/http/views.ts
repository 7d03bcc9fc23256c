import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import { FACTOR_KINDS, factorOf } from '../mfa/factors/index.js';
import { LANGUAGES } from '../i18n/languages.js';
import { escapeHtml, type Translator } from '../i18n/translator.js';

export const VIEWS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../views');

export interface PageLocals {
  title: string;
  /** The page's language: its texts (`t`), dates and numbers, `<html lang dir>`. */
  i18n: Translator;
  /** Where the language picker returns to. */
  languageReturn: string;
  csrfToken?: string;
  [key: string]: unknown;
}

/**
 * Renders views/<name>.ejs inside views/layout.ejs. ejs escapes every <%= %> output. Every page
 * may ask a kind's factor for its words (`factorOf`) and list the factors (`factorKinds`);
 * a factor's own markup is in views/factors/<kind>/. Texts come from the catalogue: `t(key, values)`;
 * `text(x)` shows a domain message or an error in the page's language.
 */
export async function renderPage(name: string, pageLocals: PageLocals): Promise<string> {
  const options = { async: true, cache: true, root: VIEWS_DIR, escape: escapeHtml };
  const locals = { factorOf, factorKinds: FACTOR_KINDS, languages: LANGUAGES, t: pageLocals.i18n.t, text: pageLocals.i18n.text, strong: pageLocals.i18n.strong, ...pageLocals };
  const body = await ejs.renderFile(path.join(VIEWS_DIR, `${name}.ejs`), locals, options);
  return ejs.renderFile(path.join(VIEWS_DIR, 'layout.ejs'), { ...locals, body }, options);
}

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import { FACTOR_KINDS, factorOf } from '../mfa/factors/index.js';

export const VIEWS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../views');

export interface PageLocals {
  title: string;
  csrfToken?: string;
  [key: string]: unknown;
}

/**
 * Renders views/<name>.ejs inside views/layout.ejs. ejs escapes every <%= %> output. Every page
 * may ask a kind's factor for its words (`factorOf`) and list the factors (`factorKinds`);
 * a factor's own markup is in views/factors/<kind>/.
 */
export async function renderPage(name: string, pageLocals: PageLocals): Promise<string> {
  const options = { async: true, cache: true, root: VIEWS_DIR };
  const locals = { factorOf, factorKinds: FACTOR_KINDS, ...pageLocals };
  const body = await ejs.renderFile(path.join(VIEWS_DIR, `${name}.ejs`), locals, options);
  return ejs.renderFile(path.join(VIEWS_DIR, 'layout.ejs'), { ...locals, body }, options);
}

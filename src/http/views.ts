import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';

export const VIEWS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../views');

export interface PageLocals {
  title: string;
  csrfToken?: string;
  [key: string]: unknown;
}

/** Renders views/<name>.ejs inside views/layout.ejs. ejs escapes every <%= %> output. */
export async function renderPage(name: string, locals: PageLocals): Promise<string> {
  const options = { async: true, cache: true, root: VIEWS_DIR };
  const body = await ejs.renderFile(path.join(VIEWS_DIR, `${name}.ejs`), locals, options);
  return ejs.renderFile(path.join(VIEWS_DIR, 'layout.ejs'), { ...locals, body }, options);
}

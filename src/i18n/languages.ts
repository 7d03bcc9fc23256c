import { ar } from './catalogues/ar.js';
import { de } from './catalogues/de.js';
import { en, type Catalogue } from './catalogues/en.js';
import { es } from './catalogues/es.js';
import { fr } from './catalogues/fr.js';

export interface Language {
  /** BCP 47 tag, as pages, cookies and ui_locales name it. */
  tag: string;
  /** The language's own name, as the picker shows it. */
  name: string;
  dir: 'ltr' | 'rtl';
  messages: Catalogue;
}

/** Every language Twofold speaks; a new one is its catalogue file and one line here. */
export const LANGUAGES: readonly Language[] = [
  { tag: 'en', name: 'English', dir: 'ltr', messages: en },
  { tag: 'de', name: 'Deutsch', dir: 'ltr', messages: de },
  { tag: 'fr', name: 'Français', dir: 'ltr', messages: fr },
  { tag: 'es', name: 'Español', dir: 'ltr', messages: es },
  { tag: 'ar', name: 'العربية', dir: 'rtl', messages: ar },
];

export const SOURCE_LANGUAGE = 'en';
export const LANGUAGE_TAGS: readonly string[] = LANGUAGES.map((l) => l.tag);

export function languageOf(tag: string): Language | undefined {
  return LANGUAGES.find((l) => l.tag === tag);
}

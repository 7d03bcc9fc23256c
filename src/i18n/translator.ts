import { IntlMessageFormat } from 'intl-messageformat';
import type { MessageKey } from './catalogues/en.js';
import { languageOf, SOURCE_LANGUAGE, type Language } from './languages.js';

export type MessageValues = Record<string, string | number | Date>;

/** A message a domain function hands back: a catalogue key and its values, rendered by the page. */
export interface Message {
  key: MessageKey;
  values?: MessageValues;
}

const compiled = new Map<string, IntlMessageFormat>();

function formatOf(language: Language, key: MessageKey): IntlMessageFormat {
  const id = `${language.tag}\u0000${key}`;
  let format = compiled.get(id);
  if (!format) {
    format = new IntlMessageFormat(language.messages[key], language.tag);
    compiled.set(id, format);
  }
  return format;
}

/** Texts, dates and numbers in one language. */
export class Translator {
  readonly tag: string;
  readonly dir: 'ltr' | 'rtl';
  private readonly language: Language;

  constructor(tag: string) {
    this.language = languageOf(tag) ?? languageOf(SOURCE_LANGUAGE)!;
    this.tag = this.language.tag;
    this.dir = this.language.dir;
  }

  t = (key: MessageKey, values?: MessageValues): string => String(formatOf(this.language, key).format(values));

  /** A domain message, or a key with values. */
  message = (m: Message): string => this.t(m.key, m.values);

  date = (d: Date | number, options: Intl.DateTimeFormatOptions = { dateStyle: 'medium', timeStyle: 'short' }): string => new Intl.DateTimeFormat(this.tag, options).format(d);

  number = (n: number): string => new Intl.NumberFormat(this.tag).format(n);
}

const translators = new Map<string, Translator>();

/** The (shared, immutable) translator of a supported tag; the source language for any other. */
export function translatorFor(tag: string): Translator {
  let t = translators.get(tag);
  if (!t) {
    t = new Translator(tag);
    translators.set(tag, t);
  }
  return t;
}

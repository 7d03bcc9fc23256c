import { IntlMessageFormat } from 'intl-messageformat';
import type { MessageKey } from './catalogues/en.js';
import { languageOf, SOURCE_LANGUAGE, type Language } from './languages.js';

export type MessageValues = Record<string, string | number | Date>;

/** A message a domain function hands back: a catalogue key and its values, rendered by the page. */
export interface Message {
  key: MessageKey;
  values?: MessageValues;
}

/** A message for an optional key (a factor's optional words). */
export const messageOf = (key: MessageKey | undefined): Message | undefined => (key ? { key } : undefined);

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;' };
/**
 * Escapes text for our pages: every attribute there is double-quoted, so an apostrophe is safe
 * as it is (and "Where you're signed in" stays readable in the markup).
 */
export const escapeHtml = (s: unknown): string => String(s ?? '').replace(/[&<>"]/g, (c) => HTML_ESCAPES[c]!);

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

/** Something a page shows: a catalogue message, an error (its message key, else its text) or final text. */
export type Shown = Message | { text?: Message; message: string } | string;

/** Texts and dates in one language (numbers are formatted by the messages themselves). */
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

  /**
   * HTML of a message whose text values are emphasised (<strong>), everything escaped: for
   * sentences that name a device, a number or an application. Numbers stay plain (plurals), and
   * so do the values in `plain`.
   */
  strong = (key: MessageKey, values: MessageValues, plain: MessageValues = {}): string => {
    const marked: MessageValues = { ...plain };
    const shown: string[] = [];
    for (const [name, value] of Object.entries(values)) {
      if (typeof value !== 'string') marked[name] = value;
      else {
        marked[name] = `\u0000${shown.length}\u0000`;
        shown.push(value);
      }
    }
    // eslint-disable-next-line no-control-regex -- NUL marks where a value goes: it cannot occur in a message
    return escapeHtml(this.t(key, marked)).replace(/\u0000(\d+)\u0000/g, (_, i: string) => `<strong>${escapeHtml(shown[Number(i)]!)}</strong>`);
  };

  /** A domain message. */
  message = (m: Message): string => this.t(m.key, m.values);

  /** A page title: a catalogue key, or (pages not yet moved to the catalogue) final text. */
  title = (keyOrText: string): string => (Object.hasOwn(this.language.messages, keyOrText) ? this.t(keyOrText as MessageKey) : keyOrText);

  /** What a page shows for a message, an error or a text that is already final. */
  text = (m: Shown | undefined | null): string => {
    if (m == null) return '';
    if (typeof m === 'string') return m;
    if ('key' in m) return this.message(m);
    return m.text ? this.message(m.text) : m.message;
  };

  date = (d: Date | number, options: Intl.DateTimeFormatOptions = { dateStyle: 'medium', timeStyle: 'short' }): string => new Intl.DateTimeFormat(this.tag, options).format(d);
}

const translators = new Map<string, Translator>();

/** The (shared, immutable) translator of a supported tag; the source language's for any other (one per language, however many tags are asked for). */
export function translatorFor(tag: string): Translator {
  const known = languageOf(tag)?.tag ?? SOURCE_LANGUAGE;
  let t = translators.get(known);
  if (!t) {
    t = new Translator(known);
    translators.set(known, t);
  }
  return t;
}

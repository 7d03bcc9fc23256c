import type { Catalogue } from './en.js';

/** German. Formal address ("Sie"), as German sign-in pages of business software use. */
export const de: Catalogue = {
  'layout.brand': 'Twofold',
  'layout.footer': 'Geschützt durch die Mehrfaktor-Authentifizierung von Twofold',
  'layout.title': '{page} · Twofold',
  'language.label': 'Sprache',
  'language.change': 'Sprache ändern',
  'login.title': 'Anmelden',
  'login.continueTo': 'um mit {client} fortzufahren',
  'login.username': 'Benutzername',
  'login.password': 'Passwort',
  'login.forgotPassword': 'Passwort vergessen?',
  'login.submit': 'Anmelden',
  'common.cancel': 'Abbrechen',
  'recoveryCodes.left': 'Sie haben noch {count, plural, one {# unbenutzten Code} other {# unbenutzte Codes}}.',
};

/**
 * English: the source catalogue. Every other language has exactly these keys, with the same
 * placeholders. Messages are ICU MessageFormat ({name} variables, {count, plural, ...}).
 */
export const en = {
  'layout.brand': 'Twofold',
  'layout.footer': 'Protected by Twofold multi-factor authentication',
  'layout.title': '{page} · Twofold',
  'language.label': 'Language',
  'language.change': 'Change language',
  'login.title': 'Log in',
  'login.continueTo': 'to continue to {client}',
  'login.username': 'Username',
  'login.password': 'Password',
  'login.forgotPassword': 'Forgot password?',
  'login.submit': 'Log In',
  'common.cancel': 'Cancel',
  'recoveryCodes.left': 'You have {count, plural, one {# unused code} other {# unused codes}} left.',
} as const;

export type MessageKey = keyof typeof en;
export type Catalogue = Record<MessageKey, string>;

import type { Catalogue } from './en.js';

/** French. "Vous" throughout; typographic spaces before "?" and ":" as French expects. */
export const fr: Catalogue = {
  'layout.brand': 'Twofold',
  'layout.footer': 'Protégé par l’authentification multifacteur de Twofold',
  'layout.title': '{page} · Twofold',
  'language.label': 'Langue',
  'language.change': 'Changer de langue',
  'login.title': 'Connexion',
  'login.continueTo': 'pour continuer vers {client}',
  'login.username': 'Nom d’utilisateur',
  'login.password': 'Mot de passe',
  'login.forgotPassword': 'Mot de passe oublié\u00a0?',
  'login.submit': 'Se connecter',
  'common.cancel': 'Annuler',
  'recoveryCodes.left': 'Il vous reste {count, plural, one {# code inutilisé} other {# codes inutilisés}}.',
};

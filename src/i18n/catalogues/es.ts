import type { Catalogue } from './en.js';

/** Spanish (neutral, "usted"), understood from Spain to Latin America. */
export const es: Catalogue = {
  'layout.brand': 'Twofold',
  'layout.footer': 'Protegido por la autenticación multifactor de Twofold',
  'layout.title': '{page} · Twofold',
  'language.label': 'Idioma',
  'language.change': 'Cambiar idioma',
  'login.title': 'Iniciar sesión',
  'login.continueTo': 'para continuar a {client}',
  'login.username': 'Nombre de usuario',
  'login.password': 'Contraseña',
  'login.forgotPassword': '¿Olvidó su contraseña?',
  'login.submit': 'Iniciar sesión',
  'common.cancel': 'Cancelar',
  'recoveryCodes.left': '{count, plural, one {Le queda # código sin usar} other {Le quedan # códigos sin usar}}.',
};

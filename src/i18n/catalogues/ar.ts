import type { Catalogue } from './en.js';

/**
 * Arabic (Modern Standard Arabic), right to left. "Twofold" stays in Latin script as a
 * product name. Plural forms follow Arabic's six categories where the count is shown.
 */
export const ar: Catalogue = {
  'layout.brand': 'Twofold',
  'layout.footer': 'محمي بالمصادقة متعددة العوامل من Twofold',
  'layout.title': '{page} · Twofold',
  'language.label': 'اللغة',
  'language.change': 'تغيير اللغة',
  'login.title': 'تسجيل الدخول',
  'login.continueTo': 'للمتابعة إلى {client}',
  'login.username': 'اسم المستخدم',
  'login.password': 'كلمة المرور',
  'login.forgotPassword': 'هل نسيت كلمة المرور؟',
  'login.submit': 'تسجيل الدخول',
  'common.cancel': 'إلغاء',
  'recoveryCodes.left':
    '{count, plural, zero {لم يتبقَّ لديك أي رمز غير مستخدم} one {تبقّى لديك رمز واحد غير مستخدم} two {تبقّى لديك رمزان غير مستخدمين} few {تبقّى لديك # رموز غير مستخدمة} many {تبقّى لديك # رمزًا غير مستخدم} other {تبقّى لديك # رمز غير مستخدم}}.',
};

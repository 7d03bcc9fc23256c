import Router from '@koa/router';
import { z } from 'zod';
import { rememberPickedLanguage } from '../http/page-language.js';
import { formOf, signedOf, type AccountGuards } from './account-guards.js';
import type { LanguageChoice } from './language-choice.js';

const languageForm = z.object({ locale: z.string().max(64).optional() });

/** The "Language" section: the pages follow at once (cookie), mails and SMS from then on (the user). */
export function accountLanguageRoutes(guards: AccountGuards, languages: LanguageChoice): Router {
  const { signedIn, form } = guards;
  const router = new Router();

  router.post('/language', form(languageForm), signedIn, async (ctx) => {
    const tag = await languages.choose(signedOf(ctx).user, formOf(ctx, languageForm).locale);
    rememberPickedLanguage(ctx, tag);
    ctx.status = 303;
    ctx.redirect('/account?done=language');
  });

  return router;
}

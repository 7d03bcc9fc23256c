import { interactionPolicy } from 'oidc-provider';
import type { AuthStateOfRequest } from './auth-state-of-request.js';
import { isMfaAcr, requestsMfa, requestsPhr } from './authentication-context.js';
import { sessionIsAlive } from './find-account.js';

const { base, Check } = interactionPolicy;

/** Reasons our own checks give; the interaction routes read them. */
export const SESSION_ENDED = 'session_ended';
export const MFA_STEP_UP = 'mfa_step_up';

/**
 * oidc-provider's default prompts plus two login checks of ours:
 * - an existing session ends when its user was signed out everywhere (policy enabled, lock,
 *   reset, factor change), is locked, or now needs MFA the session did not prove (account
 *   policy, or the user has a verified device);
 * - acr_values=aal2 on a password-only session, or phr on a session without a passkey, steps
 *   the user up (never passes through).
 */
export function createInteractionPolicy(authStateOf: AuthStateOfRequest) {
  const policy = base();
  const login = policy.get('login')!;

  login.checks.add(
    // prompt=none then answers login_required (OIDC: the End-User must authenticate).
    new Check(SESSION_ENDED, 'the session was ended and the End-User must sign in again', 'login_required', async (ctx) => {
      const { session } = ctx.oidc;
      if (!session?.accountId) return Check.NO_NEED_TO_PROMPT;
      const state = await authStateOf(ctx, session.accountId);
      // Not even silently (prompt=none) is an ended session reused.
      return state && sessionIsAlive(state, session) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );

  login.checks.add(
    new Check(MFA_STEP_UP, 'multi-factor authentication is required', (ctx) => {
      const { session, params } = ctx.oidc;
      if (!session?.accountId) return Check.NO_NEED_TO_PROMPT;
      if (requestsPhr(params?.acr_values) && session.acr !== 'phr') return Check.REQUEST_PROMPT;
      return requestsMfa(params?.acr_values) && !isMfaAcr(session.acr) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );

  return policy;
}

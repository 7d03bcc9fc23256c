import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type crypto from 'node:crypto';
import type { Config } from '../config/config-schema.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { RedisStore } from '../storage/redis-store.js';
import type { MemoryStore } from '../storage/memory-store.js';
import { pageLocalsOf } from '../http/page-language.js';
import { LANGUAGE_TAGS } from '../i18n/languages.js';
import { renderPage } from '../http/views.js';
import { createAdapterClass } from './storage-adapter.js';
import { createFindAccount, tokenIsAlive } from './find-account.js';
import { createInteractionPolicy } from './interaction-policy.js';
import { ACR_VALUES } from './authentication-context.js';
import { mayAdminister } from '../accounts/roles.js';
import { authStateOfRequest } from './auth-state-of-request.js';
import { cachedLookups, type Lookups } from '../storage/cached-lookups.js';

export const FIRST_PARTY = 'first_party';
export const ADMIN_SCOPE = 'admin';
export const adminResourceOf = (issuer: string) => `${issuer}/admin`;
/** Admin API tokens are short-lived JWTs: at most 10 minutes. */
export const ADMIN_TOKEN_TTL = 600;

export interface ProviderDeps {
  config: Config;
  data: DataStore;
  store: RedisStore | MemoryStore;
  signingKeys: crypto.JsonWebKey[];
  /** Told of every saved browser session (the per-user session index). */
  onSessionSaved?: (payload: Record<string, unknown>) => Promise<void>;
  /** Users' sign-in states and clients (kept in memory where a change feed allows). */
  lookups?: Lookups;
}

const HOUR = 3600;
const DAY = 24 * HOUR;

export function createProvider({ config, data, store, signingKeys, onSessionSaved, lookups = cachedLookups(data) }: ProviderDeps): Provider {
  const adminResource = adminResourceOf(config.issuer);
  const authStateOf = authStateOfRequest(lookups);
  const configuration: Configuration = {
    adapter: createAdapterClass(store, { findClient: (id) => lookups.findClient(id), onSessionSaved }),
    findAccount: createFindAccount(authStateOf) as Configuration['findAccount'],
    jwks: { keys: signingKeys as Configuration['jwks'] extends { keys: infer K } ? K : never },
    cookies: {
      keys: config.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    claims: {
      // auth_time, acr and amr reach the ID token only when a scope names them.
      openid: ['sub', 'auth_time', 'acr', 'amr'],
      profile: ['preferred_username'],
    },
    acrValues: ACR_VALUES,
    discovery: { ui_locales_supported: [...LANGUAGE_TAGS] },
    responseTypes: ['code'],
    conformIdTokenClaims: false,
    extraClientMetadata: {
      properties: [FIRST_PARTY],
      validator(_ctx, key, value) {
        if (key === FIRST_PARTY && value !== undefined && typeof value !== 'boolean') {
          throw new Error(`${FIRST_PARTY} must be a boolean`);
        }
      },
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: {
        enabled: true,
        // oidc-provider's introspection never asks for the account, so it would call a token
        // active that the token endpoint or userinfo refuses; `false` here answers
        // {active: false}, for a token of a locked user or from before a sign-out mark.
        async allowedPolicy(ctx, client, token) {
          // oidc-provider's default: a public client learns nothing about other clients' tokens.
          if (client.clientAuthMethod === 'none' && token.clientId !== client.clientId) return false;
          const { accountId } = token as { accountId?: string };
          if (!accountId) return true;
          const state = await authStateOf(ctx, accountId);
          return Boolean(state) && tokenIsAlive(state!, token);
        },
      },
      userinfo: { enabled: true },
      // The admin API is a resource server of ours: scope `admin`, JWT access tokens.
      resourceIndicators: {
        enabled: true,
        async getResourceServerInfo(_ctx, resource) {
          if (resource !== adminResource) throw new errors.InvalidTarget();
          return {
            scope: ADMIN_SCOPE,
            audience: adminResource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: ADMIN_TOKEN_TTL,
            jwt: { sign: { alg: 'ES256' } },
          };
        },
        // A token request need not repeat `resource`: the granted admin resource is used.
        async useGrantedResource(ctx, model) {
          const granted = ctx.oidc.entities.Grant?.getResourceScope(adminResource) ?? '';
          return model.resource === adminResource && granted.split(' ').includes(ADMIN_SCOPE);
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = await renderPage('logout', { title: 'title.signOut', ...pageLocalsOf(ctx), form });
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = await renderPage('logged-out', { title: 'title.signedOut', ...pageLocalsOf(ctx) });
        },
      },
    },
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    interactions: {
      policy: createInteractionPolicy(authStateOf),
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    // First-party clients (Twofold's own apps, the demo) never show a consent page.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId || oidc.session!.grantIdFor(oidc.client!.clientId);
      const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (!(oidc.client as unknown as Record<string, unknown>)[FIRST_PARTY]) return existing;
      const grant = existing ?? new oidc.provider.Grant({ clientId: oidc.client!.clientId, accountId: oidc.session!.accountId! });
      grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
      if (oidc.requestParamClaims.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
      // Only administrators and support ever hold the admin scope.
      if (oidc.params!.resource === adminResource && oidc.requestParamScopes.has(ADMIN_SCOPE)) {
        if (mayAdminister((await authStateOf(ctx, oidc.session!.accountId!))?.user)) grant.addResourceScope(adminResource, ADMIN_SCOPE);
      }
      await grant.save();
      return grant;
    },
    // Access tokens carry the sign-in time and level they stand for (oidc-provider's keep
    // neither), so a sign-out mark, or MFA turned on, ends them as it ends the refresh token;
    // admin tokens also carry the amr (the API demands MFA). Stored with the token, it needs no session that may be gone.
    async extraTokenClaims(ctx, token) {
      if (token.kind !== 'AccessToken') return undefined;
      const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken;
      if (!source) return undefined;
      if (token.aud !== adminResource) return { auth_time: source.authTime, acr: source.acr };
      return { acr: source.acr, amr: source.amr, auth_time: source.authTime };
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    ttl: {
      AccessToken: () => 10 * 60,
      AuthorizationCode: 60,
      IdToken: HOUR,
      Interaction: HOUR,
      Session: 14 * DAY,
      Grant: 14 * DAY,
      RefreshToken: () => 14 * DAY,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = await renderPage('error', {
        title: 'error.heading',
        ...pageLocalsOf(ctx),
        heading: 'error.providerHeading',
        message: String(out.error_description ?? out.error ?? 'The request could not be completed.'),
      });
    },
  };
  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;
  // The client is the address the nearest trusted proxies saw, never what the client wrote.
  provider.maxIpsCount = config.trustProxyHops;
  return provider;
}

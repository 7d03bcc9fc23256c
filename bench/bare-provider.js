// Scenario A: bare oidc-provider. The same oidc-provider version as Twofold, the same storage
// adapter (createAdapterClass from dist/ on a RedisStore), the same protocol configuration
// (features, TTLs, PKCE, refresh rotation, RS256 + ES256 keys, auto-grant like Twofold's
// first-party clients), and a trivial interaction: GET shows a form, POST logs in a fixed
// account without any check. No CSRF, no throttle, no audit, no database.
//
// Env: PORT, REDIS_URL (with a db index), REDIS_PREFIX, CLIENT_ID, CLIENT_SECRET, COOKIE_KEY.
// Prints one JSON line {"listening": port} on stdout when ready; SIGTERM stops it.
import crypto from 'node:crypto';
import http from 'node:http';
import Provider, { errors } from 'oidc-provider';
import { createAdapterClass } from '../dist/oidc/storage-adapter.js';
import { RedisStore } from '../dist/storage/redis-store.js';

const port = Number(process.env.PORT || 0);
const issuer = `http://127.0.0.1:${port}`;
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379/14';
const clientId = process.env.CLIENT_ID || 'bench-bare';
const clientSecret = process.env.CLIENT_SECRET || 'bench-bare-secret-'.padEnd(48, 'x');
const cookieKey = process.env.COOKIE_KEY || crypto.randomBytes(32).toString('base64url');
const ACCOUNT_ID = 'bench-account';
const HOUR = 3600;
const DAY = 24 * HOUR;

// Twofold's own connection (the same client options, command timeout included), with our own key prefix.
const store = RedisStore.connect(redisUrl, process.env.REDIS_PREFIX || 'bare:');

const client = {
  client_id: clientId,
  client_secret: clientSecret,
  redirect_uris: ['http://rp.test/callback'],
  post_logout_redirect_uris: ['http://rp.test/signed-out'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
};

function key(alg) {
  const { privateKey } = alg === 'RS256' ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg, use: 'sig' };
}

const adminResource = `${issuer}/admin`;
const provider = new Provider(issuer, {
  adapter: createAdapterClass(store, { findClient: async (id) => (id === clientId ? { ...client } : undefined) }),
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, preferred_username: 'bench-user' };
      },
    };
  },
  jwks: { keys: [key('RS256'), key('ES256')] },
  cookies: {
    keys: [cookieKey],
    long: { signed: true, httpOnly: true, sameSite: 'lax' },
    short: { signed: true, httpOnly: true, sameSite: 'lax' },
  },
  claims: { openid: ['sub', 'auth_time', 'acr', 'amr'], profile: ['preferred_username'] },
  acrValues: ['aal1', 'aal2'],
  responseTypes: ['code'],
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async getResourceServerInfo(_ctx, resource) {
        if (resource !== adminResource) throw new errors.InvalidTarget();
        return { scope: 'admin', audience: adminResource, accessTokenFormat: 'jwt', accessTokenTTL: 600, jwt: { sign: { alg: 'ES256' } } };
      },
      async useGrantedResource() {
        return false;
      },
    },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: (_ctx, c) => c.clientAuthMethod === 'none' },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  // Like Twofold's first-party clients: no consent page, the grant is made here.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
    const grant = existing ?? new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
    grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    if (oidc.requestParamClaims.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
    await grant.save();
    return grant;
  },
  issueRefreshToken: async (_ctx, c) => c.grantTypeAllowed('refresh_token'),
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
});

// The trivial interaction: a form, and a POST that logs in the fixed account.
const page = (uid) => `<!doctype html><html><body><form method="post" action="/interaction/${uid}/login"><button>Log in</button></form></body></html>`;

provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/);
  if (!m) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== m[1]) ctx.throw(400, 'interaction mismatch');
  if (ctx.method === 'GET' && !m[2]) {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = page(details.uid);
    return;
  }
  if (ctx.method === 'POST' && m[2]) {
    for await (const _ of ctx.req); // drain the (empty) form
    const returnTo = await provider.interactionResult(
      ctx.req,
      ctx.res,
      { login: { accountId: ACCOUNT_ID, acr: 'aal1', amr: ['pwd'], remember: true } },
      { mergeWithLastSubmission: false },
    );
    ctx.status = 303;
    ctx.redirect(returnTo);
    return;
  }
  ctx.throw(405);
});

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 5_000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ listening: server.address().port })}\n`);
});

process.once('SIGTERM', () => {
  server.close(() => {
    store.close().finally(() => process.exit(0));
  });
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5000).unref();
});

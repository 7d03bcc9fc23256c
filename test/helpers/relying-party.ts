import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { RP_REDIRECT } from './provision.js';
import { UserAgent, type Page } from './user-agent.js';

/** A relying party built on openid-client (a certified RP library) plus a cookie-jar user agent. */
export class RelyingParty {
  readonly agent: UserAgent;
  private constructor(
    readonly issuer: string,
    readonly config: oidc.Configuration,
    readonly clientId: string,
    agent?: UserAgent,
  ) {
    this.agent = agent ?? new UserAgent((url) => url.host === new URL(RP_REDIRECT).host);
  }

  static async create(issuer: string, clientId: string, clientSecret: string, agent?: UserAgent): Promise<RelyingParty> {
    const config = await oidc.discovery(new URL(issuer), clientId, undefined, oidc.ClientSecretBasic(clientSecret), {
      execute: [oidc.allowInsecureRequests],
    });
    return new RelyingParty(issuer, config, clientId, agent);
  }

  /** Another RP (another client) sharing this one's browser. */
  async withClient(clientId: string, clientSecret: string): Promise<RelyingParty> {
    return RelyingParty.create(this.issuer, clientId, clientSecret, this.agent);
  }

  /** Starts a sign-in; returns the first page the user sees, and how to finish it. */
  async start(params: Record<string, string> = {}): Promise<{ page: Page; finish: (callback: string) => Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> }> {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = params.state ?? oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(this.config, {
      redirect_uri: RP_REDIRECT,
      scope: 'openid profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...params,
    });
    const page = await this.agent.request(url.toString());
    return {
      page,
      finish: (callback) => oidc.authorizationCodeGrant(this.config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }),
    };
  }

  /** Verifies an ID token's signature against the provider's JWKS, with iss and aud. */
  async verifyIdToken(idToken: string): Promise<JWTPayload> {
    const jwks = createRemoteJWKSet(new URL(`${this.issuer}/jwks`));
    const { payload } = await jwtVerify(idToken, jwks, { issuer: this.issuer, audience: this.clientId });
    return payload;
  }
}

/** The callback URL the user agent stopped at (status 0 = not requested: it is the RP's). */
export function callbackOf(page: Page): string {
  if (page.status !== 0 || !page.url.startsWith(RP_REDIRECT)) {
    throw new Error(`expected a redirect to the RP, got ${page.status} ${page.url}\n${page.html.slice(0, 2000)}`);
  }
  return page.url;
}

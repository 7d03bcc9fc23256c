import type { Command } from '../command.js';
import { parseCommandArgs, UsageError } from '../parse-args.js';

export const clientCreateCommand: Command = {
  name: 'client create',
  usage: [
    'client create --client-id ID --redirect-uri URI [--redirect-uri URI ...]',
    '              [--public | --secret SECRET] [--first-party] [--post-logout-redirect-uri URI ...]',
  ],
  summary: 'register an OpenID Connect client (relying party)',
  details: [
    '--public        a public client (PKCE, no secret); otherwise confidential',
    '--secret SECRET the client secret (at least 32 characters); generated and printed once when omitted',
    '--first-party   never show a consent page for this client',
  ],
  async run(args, ctx) {
    const { values } = parseCommandArgs(this.name, args, {
      'client-id': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      public: { type: 'boolean' },
      secret: { type: 'string' },
      'first-party': { type: 'boolean' },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
    });
    const clientId = values['client-id'];
    if (clientId === undefined) throw new UsageError('missing --client-id', this.name);
    const redirectUris = values['redirect-uri'] ?? [];
    if (redirectUris.length === 0) throw new UsageError('missing --redirect-uri', this.name);
    if (values.public && values.secret !== undefined) throw new UsageError('--public and --secret exclude each other', this.name);
    for (const [option, list] of [
      ['redirect-uri', redirectUris],
      ['post-logout-redirect-uri', values['post-logout-redirect-uri'] ?? []],
    ] as const) {
      if (list.some((uri) => uri === '')) throw new UsageError(`--${option} needs a non-empty value`, this.name);
    }

    const client = await ctx.withServices((s) =>
      s.provisioning.createClient({
        clientId,
        redirectUris,
        postLogoutRedirectUris: values['post-logout-redirect-uri'],
        secret: values.secret,
        public: Boolean(values.public),
        firstParty: Boolean(values['first-party']),
      }),
    );
    const secret = typeof client.client_secret === 'string' ? client.client_secret : null;
    const isPublic = Boolean(values.public);
    const text = [`Created ${isPublic ? 'public' : 'confidential'}${values['first-party'] ? ' first-party' : ''} client "${clientId}".`];
    if (secret !== null && values.secret === undefined) {
      text.push(`Client secret: ${secret}`, 'Store it now: it is shown only this once.');
    }
    return {
      json: {
        clientId,
        clientSecret: secret,
        public: isPublic,
        firstParty: Boolean(values['first-party']),
        redirectUris,
        postLogoutRedirectUris: values['post-logout-redirect-uri'] ?? [],
      },
      text,
    };
  },
};

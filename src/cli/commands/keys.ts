import { rotateSigningKeys } from '../../oidc/signing-keys.js';
import type { Command } from '../command.js';
import { parseCommandArgs, UsageError } from '../parse-args.js';

const DEFAULT_DELAY_SECONDS = 600;

export const keysRotateCommand: Command = {
  name: 'keys rotate',
  usage: ['keys rotate [--delay SECONDS]'],
  summary: 'add new signing keys: published now, signing after the delay; old keys stay published until their tokens expire',
  details: [
    `--delay SECONDS   how long new keys are only published before they sign (default ${DEFAULT_DELAY_SECONDS}; at least`,
    "                  KEY_REFRESH_SECONDS so every process, and relying parties' JWKS caches, have them first)",
  ],
  async run(args, ctx) {
    const { values } = parseCommandArgs(this.name, args, { delay: { type: 'string' } });
    const delayText = values.delay ?? String(DEFAULT_DELAY_SECONDS);
    if (!/^\d{1,6}$/.test(delayText)) throw new UsageError('--delay must be a whole number of seconds', this.name);
    const added = await ctx.withServices((s) => rotateSigningKeys(s.data, s.box, Number(delayText)));
    return {
      json: { keys: added.map((k) => ({ kid: k.kid, alg: k.alg, activatesAt: k.activatesAt.toISOString() })), previousKeysRetireAt: added[0]!.previousRetireAt.toISOString() },
      text: [
        ...added.map((k) => `New ${k.alg} key ${k.kid}: published now, signs from ${k.activatesAt.toISOString()}`),
        `The previous keys stay published for verification until ${added[0]!.previousRetireAt.toISOString()}.`,
      ],
    };
  },
};

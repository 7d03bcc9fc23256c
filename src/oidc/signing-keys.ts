import crypto from 'node:crypto';
import type { SecretBox } from '../crypto/secret-box.js';
import type { DataStore } from '../storage/repositories/index.js';
import type { StoredSigningKey } from '../storage/repositories/signing-keys-repository.js';

const ALGORITHMS = ['RS256', 'ES256'] as const;
type Alg = (typeof ALGORITHMS)[number];

/** Longest life of a token signed by a key (ID tokens: 1 h) plus clock-skew margin. */
export const SIGNED_TOKEN_MAX_SECONDS = 3600 + 300;

function generate(alg: Alg): crypto.JsonWebKey {
  const { privateKey } = alg === 'RS256' ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg, use: 'sig' };
}

const aad = (kid: string) => `signing-key:${kid}`;

async function insertNew(data: Pick<DataStore, 'signingKeys'>, box: SecretBox, alg: Alg, activatesAt?: Date): Promise<string> {
  const jwk = generate(alg);
  await data.signingKeys.insert(String(jwk.kid), alg, box.seal(JSON.stringify(jwk), aad(String(jwk.kid))), activatesAt);
  return String(jwk.kid);
}

/**
 * The JWKS every process serves: every published key, the signing key of each algorithm first.
 * Only the newest activated key of an algorithm may sign; the others (upcoming or retiring) are
 * published with key_ops ["verify"], so oidc-provider never signs with them.
 */
export function keyring(stored: StoredSigningKey[], box: SecretBox, now = Date.now()): crypto.JsonWebKey[] {
  const signing = new Set(
    ALGORITHMS.map((alg) => stored.filter((k) => k.alg === alg && k.activatesAt.getTime() <= now).sort((a, b) => b.activatesAt.getTime() - a.activatesAt.getTime())[0]?.kid),
  );
  const jwks = stored.map((k) => {
    const jwk = JSON.parse(box.open(k.sealedJwk, aad(k.kid)).toString('utf8')) as crypto.JsonWebKey;
    return signing.has(k.kid) ? jwk : { ...jwk, key_ops: ['verify'] };
  });
  return [...jwks.filter((k) => !k.key_ops), ...jwks.filter((k) => k.key_ops)];
}

/**
 * Loads the keys shared by every process, generating the first ones once (under a lock, so
 * processes starting together agree). Keys are stored encrypted in Postgres.
 */
export async function loadSigningKeys(data: DataStore, box: SecretBox): Promise<{ jwks: crypto.JsonWebKey[]; fingerprint: string }> {
  return data.transaction(async (tx) => {
    let stored = await tx.signingKeys.listPublished();
    if (ALGORITHMS.some((alg) => !stored.some((k) => k.alg === alg))) {
      await tx.signingKeys.lockForGeneration();
      stored = await tx.signingKeys.listPublished();
      for (const alg of ALGORITHMS) if (!stored.some((k) => k.alg === alg)) await insertNew(tx, box, alg);
      stored = await tx.signingKeys.listPublished();
    }
    const jwks = keyring(stored, box);
    // What a process serves changes when a key is added, activates or leaves JWKS.
    const fingerprint = jwks.map((k) => `${k.kid}:${k.key_ops ? 'v' : 's'}`).join(',');
    return { jwks, fingerprint };
  });
}

/**
 * `twofold keys rotate`: new keys are published now and sign from `activatesAt` (after every
 * process and relying party has had time to fetch them); the old keys stay published for
 * verification until the last token they signed has expired, then leave JWKS.
 */
export async function rotateSigningKeys(data: DataStore, box: SecretBox, delaySeconds: number): Promise<{ kid: string; alg: string; activatesAt: Date; previousRetireAt: Date }[]> {
  const activatesAt = new Date(Date.now() + delaySeconds * 1000);
  const previousRetireAt = new Date(activatesAt.getTime() + SIGNED_TOKEN_MAX_SECONDS * 1000);
  return data.transaction(async (tx) => {
    await tx.signingKeys.lockForGeneration();
    const added = [];
    for (const alg of ALGORITHMS) {
      const kid = await insertNew(tx, box, alg, activatesAt);
      await tx.signingKeys.retireOthers(alg, kid, previousRetireAt);
      added.push({ kid, alg, activatesAt, previousRetireAt });
    }
    return added;
  });
}

import crypto from 'node:crypto';
import type { SecretBox } from '../crypto/secret-box.js';
import type { DataStore } from '../storage/repositories/index.js';

const ALGORITHMS = ['RS256', 'ES256'] as const;

function generate(alg: (typeof ALGORITHMS)[number]): crypto.JsonWebKey {
  const { privateKey } =
    alg === 'RS256'
      ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
      : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg, use: 'sig' };
}

/**
 * The private signing JWKs shared by every process: generated once (under a lock, so two
 * processes starting together agree), stored encrypted in Postgres.
 */
export async function loadSigningKeys(data: DataStore, box: SecretBox): Promise<crypto.JsonWebKey[]> {
  return data.transaction(async (tx) => {
    await tx.signingKeys.lockForGeneration();
    const stored = await tx.signingKeys.listActive();
    for (const alg of ALGORITHMS) {
      if (stored.some((k) => k.alg === alg)) continue;
      const jwk = generate(alg);
      const sealedJwk = box.seal(JSON.stringify(jwk), `signing-key:${jwk.kid}`);
      await tx.signingKeys.insert(String(jwk.kid), alg, sealedJwk);
    }
    // Read back in the table's order, so that every process serves the same JWKS document.
    return (await tx.signingKeys.listActive()).map((k) => JSON.parse(box.open(k.sealedJwk, `signing-key:${k.kid}`).toString('utf8')) as crypto.JsonWebKey);
  });
}

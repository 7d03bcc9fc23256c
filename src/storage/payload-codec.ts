import zlib from 'node:zlib';

/**
 * oidc-provider payloads are small JSON objects whose field names and fixed values repeat in
 * every record, and only the random ids do not compress. Raw deflate primed with a dictionary
 * of those names halves a record (a refresh token: 504 → 234 bytes) for about 12 µs.
 *
 * Stored form: one version byte, then the deflated JSON. Version 1's dictionary must never
 * change (records written with it live for weeks); a new dictionary takes a new version byte.
 * Anything that does not start with a known version byte is plain JSON (records written
 * before compression existed).
 */
const V1 = 0x01;
const DICTIONARY_V1 = Buffer.from(
  [
    '"consumed":"Interaction","returnTo":"lastSubmission":"prompt":{"name":"login","reasons":["no_session"],"details":{}}',
    '"params":{"client_id":"redirect_uri":"response_type":"code","code_challenge_method":"S256","code_challenge":"',
    '"result":{"login":{"accountId":"consent":{"grantId":"cid":"trusted":[],"deviceCode":"userCode":"',
    '"resource":"https://","redirectUri":"https://","codeChallengeMethod":"S256","codeChallenge":"',
    '"AuthorizationCode","AccessToken","openid":{"scope":"openid profile offline_access admin"},"Grant",',
    '"authorizations":{"":{"sid":"","grantId":"","persistsLogout":true}},"uid":"","loginTs":1795850728,"Session",',
    '"gty":"authorization_code refresh_token","rotations":0,"iiat":1795850728,"RefreshToken",',
    '{"iat":1795850728,"exp":1795850728,"accountId":"","acr":"aal2","amr":["pwd","otp","mfa"],"authTime":1795850728,',
    '"grantId":"","nonce":"","scope":"openid offline_access","sessionUid":"","kind":"","jti":"","clientId":""}',
  ].join(''),
);

// A 2 KB window holds the dictionary and any payload's back-references; zlib's default 32 KB
// window and hash tables would be allocated (and collected) on every call for nothing.
const OPTIONS_V1 = { dictionary: DICTIONARY_V1, windowBits: 11, memLevel: 2 };

export function encodePayload(json: string): Buffer {
  const deflated = zlib.deflateRawSync(Buffer.from(json, 'utf8'), OPTIONS_V1);
  return Buffer.concat([Buffer.of(V1), deflated]);
}

export function decodePayload(stored: Buffer): string {
  if (stored[0] === V1) return zlib.inflateRawSync(stored.subarray(1), OPTIONS_V1).toString('utf8');
  return stored.toString('utf8');
}

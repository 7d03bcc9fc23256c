-- Passkeys (WebAuthn) as a device kind. What a factor keeps beyond the shared columns lives in
-- its own `config` document (for a passkey: public key, counter, transports, device type,
-- backed-up flag, AAGUID); the credential id is a column of its own so it is unique across
-- every user and can be looked up for a sign-in that starts from the credential.
ALTER TABLE mfa_devices DROP CONSTRAINT mfa_devices_kind_check;
ALTER TABLE mfa_devices ADD CONSTRAINT mfa_devices_kind_check CHECK (kind IN ('totp', 'sms', 'passkey'));
ALTER TABLE mfa_devices
  ADD COLUMN config jsonb NULL,
  ADD COLUMN credential_id text NULL CHECK (credential_id IS NULL OR length(credential_id) BETWEEN 1 AND 1400);
CREATE UNIQUE INDEX mfa_devices_credential_id ON mfa_devices (credential_id) WHERE credential_id IS NOT NULL;
-- A verified passkey always has its credential.
ALTER TABLE mfa_devices ADD CONSTRAINT mfa_devices_passkey_credential
  CHECK (kind <> 'passkey' OR verified_at IS NULL OR (credential_id IS NOT NULL AND config IS NOT NULL));

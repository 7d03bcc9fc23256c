-- MFA devices and the per-user failure counter / lock.
ALTER TABLE users
  ADD COLUMN failed_mfa_attempts integer NOT NULL DEFAULT 0 CHECK (failed_mfa_attempts >= 0),
  ADD COLUMN locked_at timestamptz NULL,
  ADD COLUMN locked_reason text NULL;

CREATE TABLE mfa_devices (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  kind           text NOT NULL CHECK (kind IN ('totp', 'sms')),
  nickname       text NULL CHECK (nickname IS NULL OR length(nickname) BETWEEN 1 AND 64),
  sealed_secret  text NULL,
  phone_e164     text NULL,
  verified_at    timestamptz NULL,
  is_default     boolean NOT NULL DEFAULT false,
  -- Highest TOTP time step accepted: a step is accepted at most once (replay guard).
  last_time_step bigint NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  last_used_at   timestamptz NULL,
  CHECK (kind <> 'totp' OR sealed_secret IS NOT NULL),
  CHECK (kind <> 'sms' OR phone_e164 IS NOT NULL),
  -- Impossible states are unrepresentable: the default device is a verified one.
  CHECK (NOT is_default OR verified_at IS NOT NULL)
);
CREATE UNIQUE INDEX mfa_devices_one_default ON mfa_devices (user_id) WHERE is_default;
CREATE INDEX mfa_devices_user ON mfa_devices (user_id);

-- Accounts (tenants), users, OIDC clients, signing keys and the audit log.
CREATE TABLE accounts (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- MFA is required account-wide by default; only support turns it off.
  mfa_required          boolean NOT NULL DEFAULT true,
  mfa_policy_updated_at timestamptz NOT NULL DEFAULT now(),
  mfa_policy_updated_by uuid NULL,
  -- Sessions and refresh tokens authenticated before this instant are dead.
  sessions_valid_after  timestamptz NULL,
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_name_lower ON accounts (lower(name));

CREATE TABLE users (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id           uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  username             text NOT NULL CHECK (length(username) BETWEEN 1 AND 200),
  role                 text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  is_support           boolean NOT NULL DEFAULT false,
  password_hash        text NOT NULL,
  sessions_valid_after timestamptz NULL,
  created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
CREATE INDEX users_account ON users (account_id);

CREATE TABLE oidc_clients (
  client_id  text PRIMARY KEY,
  metadata   jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE signing_keys (
  kid        text PRIMARY KEY,
  alg        text NOT NULL,
  sealed_jwk text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz NULL
);

CREATE TABLE audit_events (
  id              bigserial PRIMARY KEY,
  occurred_at     timestamptz NOT NULL DEFAULT now(),
  type            text NOT NULL,
  account_id      uuid NULL,
  actor_user_id   uuid NULL,
  subject_user_id uuid NULL,
  ip              text NULL,
  user_agent      text NULL,
  details         jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_account ON audit_events (account_id, id DESC);
CREATE INDEX audit_events_subject ON audit_events (subject_user_id, id DESC);

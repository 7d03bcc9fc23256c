-- Password-reset links: at most one per user (a new link replaces the old one, so only the
-- latest works), stored as a keyed hash of the token, used once, until expires_at.
CREATE TABLE password_resets (
  user_id    uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at    timestamptz NULL
);

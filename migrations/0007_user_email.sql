-- An optional email address per user, for security notices and password resets. The
-- application stores it normalised (trimmed, ASCII, lower-cased: src/accounts/email-address.ts),
-- so uniqueness is case-insensitive; the check keeps any other writer to that form.
ALTER TABLE users ADD COLUMN email text;
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD CONSTRAINT users_email_normalised
  CHECK (email IS NULL OR (email = lower(email COLLATE "C") AND length(email) <= 254));
-- Without an address there is nothing to have verified.
ALTER TABLE users ADD CONSTRAINT users_email_verified_needs_email CHECK (email IS NOT NULL OR NOT email_verified);
CREATE UNIQUE INDEX users_email ON users (email) WHERE email IS NOT NULL;

-- A pending change of address: at most one per user (a new request replaces it, so only the
-- latest link works), the link's token stored only as a keyed hash, deleted when used.
CREATE TABLE email_changes (
  user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  new_email text NOT NULL CHECK (new_email = lower(new_email COLLATE "C") AND length(new_email) <= 254),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);

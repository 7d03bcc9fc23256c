-- Key rotation: a key is published before it signs (activates_at) and stays published for
-- verification until its tokens can no longer be valid (retired_at, now "unpublished after").
ALTER TABLE signing_keys ADD COLUMN activates_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX signing_keys_published ON signing_keys (alg, activates_at DESC);

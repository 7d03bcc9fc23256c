-- The support console finds users by the start of their username or email address across
-- every account: prefix (LIKE 'x%') look-ups need pattern-ops indexes whatever the collation.
CREATE INDEX users_username_key_prefix ON users (username_key text_pattern_ops);
CREATE INDEX users_email_prefix ON users (email text_pattern_ops) WHERE email IS NOT NULL;

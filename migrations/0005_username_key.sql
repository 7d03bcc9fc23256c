-- The canonical form of each username, written by the application (src/accounts/username.ts):
-- uniqueness and every look-up use it, so no look-alike spelling reaches another user.
ALTER TABLE users ADD COLUMN username_key text;

-- Usernames have always been ASCII, whose canonical form is the ASCII lower case; COLLATE "C"
-- keeps the database's locale (e.g. a Turkish dotless i) out of it.
UPDATE users SET username_key = lower(username COLLATE "C");

-- Should two existing rows share a key (possible only under an unusual database locale), the
-- oldest keeps it and the others get one no sign-in can produce ('~' is not allowed in a
-- username) until an operator renames them; the migration never fails on existing data.
UPDATE users u SET username_key = '~' || u.id::text
  FROM users o
  WHERE o.username_key = u.username_key AND (o.created_at, o.id::text) < (u.created_at, u.id::text);

ALTER TABLE users ALTER COLUMN username_key SET NOT NULL;
CREATE UNIQUE INDEX users_username_key ON users (username_key);

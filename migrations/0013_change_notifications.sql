-- Each server process keeps the few rows every token request reads (a user's sign-in state, an
-- OIDC client) in memory and drops an entry when the row changes: these triggers announce the
-- changes that matter, delivered to every listening process when the transaction commits.
-- Payloads: 'user:<id>', 'account:<id>', 'client:<client_id>'.
CREATE FUNCTION twofold_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  row_data jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
  id text := row_data ->> TG_ARGV[1];
BEGIN
  -- A NOTIFY payload is at most 8000 bytes: an id too long for it clears every cached entry.
  PERFORM pg_notify('twofold_changes', TG_ARGV[0] || ':' || CASE WHEN octet_length(id) > 7000 THEN '*' ELSE id END);
  RETURN NULL;
END $$;

-- What a token request or a reused browser session depends on; not the per-sign-in counters.
CREATE TRIGGER users_changed AFTER UPDATE ON users FOR EACH ROW
  WHEN (OLD.locked_at IS DISTINCT FROM NEW.locked_at
     OR OLD.sessions_valid_after IS DISTINCT FROM NEW.sessions_valid_after
     OR OLD.username IS DISTINCT FROM NEW.username
     OR OLD.role IS DISTINCT FROM NEW.role
     OR OLD.is_support IS DISTINCT FROM NEW.is_support
     OR OLD.account_id IS DISTINCT FROM NEW.account_id)
  EXECUTE FUNCTION twofold_notify_change('user', 'id');
CREATE TRIGGER users_deleted AFTER DELETE ON users FOR EACH ROW EXECUTE FUNCTION twofold_notify_change('user', 'id');

CREATE TRIGGER accounts_changed AFTER UPDATE ON accounts FOR EACH ROW
  WHEN (OLD.mfa_required IS DISTINCT FROM NEW.mfa_required OR OLD.sessions_valid_after IS DISTINCT FROM NEW.sessions_valid_after)
  EXECUTE FUNCTION twofold_notify_change('account', 'id');
CREATE TRIGGER accounts_deleted AFTER DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION twofold_notify_change('account', 'id');

-- Whether a user has a verified device decides if a password-only sign-in still counts.
CREATE TRIGGER mfa_devices_added_or_removed AFTER INSERT OR DELETE ON mfa_devices FOR EACH ROW EXECUTE FUNCTION twofold_notify_change('user', 'user_id');
CREATE TRIGGER mfa_devices_verified AFTER UPDATE ON mfa_devices FOR EACH ROW
  WHEN (OLD.verified_at IS DISTINCT FROM NEW.verified_at OR OLD.user_id IS DISTINCT FROM NEW.user_id)
  EXECUTE FUNCTION twofold_notify_change('user', 'user_id');

CREATE TRIGGER oidc_clients_changed AFTER INSERT OR UPDATE OR DELETE ON oidc_clients FOR EACH ROW EXECUTE FUNCTION twofold_notify_change('client', 'client_id');

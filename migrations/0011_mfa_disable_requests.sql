-- Turning "Require Multi-Factor" off is a request an account admin files and a different
-- support user decides. The database keeps the rules every caller relies on: one open request
-- per account, a decision only once (with who and when), and never by the one who filed it.
CREATE TABLE mfa_disable_requests (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id   uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
  reason       text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
  requested_by uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  decided_by   uuid NULL REFERENCES users(id) ON DELETE SET NULL,
  decided_at   timestamptz NULL,
  note         text NULL CHECK (note IS NULL OR length(note) BETWEEN 1 AND 1000),
  CONSTRAINT mfa_disable_requests_decision CHECK ((status = 'pending') = (decided_at IS NULL)),
  CONSTRAINT mfa_disable_requests_not_own CHECK (decided_by IS NULL OR decided_by <> requested_by)
);
CREATE UNIQUE INDEX mfa_disable_requests_one_open ON mfa_disable_requests (account_id) WHERE status = 'pending';
CREATE INDEX mfa_disable_requests_by_status ON mfa_disable_requests (status, created_at DESC);

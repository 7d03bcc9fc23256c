-- Devices being enrolled: which sign-in or self-service session created them (a keyed hash),
-- so only that session is shown the device's secret; and fast look-ups of pending numbers.
ALTER TABLE mfa_devices ADD COLUMN enrolment_binding text NULL;
CREATE INDEX mfa_devices_pending_phone ON mfa_devices (phone_e164) WHERE verified_at IS NULL;

-- The language a user chose (a BCP 47 tag the application supports), for mails and SMS texts
-- sent outside a page. NULL: never chosen, the deployment's default applies.
ALTER TABLE users ADD COLUMN locale text CHECK (locale IS NULL OR locale ~ '^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$');

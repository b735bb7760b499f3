-- What an app's profile hook keeps of a person beyond name, e-mail and picture: read
-- with the session on every guarded request, so it stays a small JSON object.
ALTER TABLE users
    ADD COLUMN extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD CONSTRAINT users_extra_is_an_object CHECK (jsonb_typeof(extra) = 'object');

-- Each session keeps the provider's tokens of its own sign-in (sealed, like the
-- account's): a person signed in on two devices holds two provider sessions, and
-- refreshing one must not touch the other. `idp_subject` checks that a refreshed ID
-- token is still about the same person; `idp_checked_at` is when the provider last
-- confirmed the session (the sign-in or a refresh). A refresh is leased, so that one
-- instance at a time spends the refresh token, without holding a connection or a row
-- lock while it waits for the provider.
ALTER TABLE sessions
    ADD COLUMN idp_subject         text,
    ADD COLUMN access_token        text,
    ADD COLUMN access_expires_at   timestamptz,
    ADD COLUMN refresh_token       text,
    ADD COLUMN idp_checked_at      timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN refresh_lease       uuid,
    ADD COLUMN refresh_lease_until timestamptz;

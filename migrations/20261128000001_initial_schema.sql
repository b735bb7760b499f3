-- The NextAuth Prisma schema's entities, with the keys, constraints and indexes that
-- sessions a person can list and revoke, and fast cookie lookups, need.

CREATE TABLE users (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text,
    email          text,
    email_verified timestamptz,
    image          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- E-mail is unique regardless of case.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE accounts (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type                text        NOT NULL,
    provider            text        NOT NULL,
    provider_account_id text        NOT NULL,
    refresh_token       text,
    access_token        text,
    expires_at          timestamptz,
    token_type          text,
    scope               text,
    id_token            text,
    session_state       text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_provider_account_key UNIQUE (provider, provider_account_id)
);
CREATE INDEX accounts_user_id_idx ON accounts (user_id);

CREATE TABLE sessions (
    -- Public id, shown on the sessions page; never the secret.
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- SHA-256 of the cookie token; the token itself is never stored.
    token_hash          bytea       NOT NULL,
    user_id             uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at          timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_seen_at        timestamptz NOT NULL DEFAULT now(),
    user_agent          text,
    ip                  inet,
    provider            text        NOT NULL,
    idp_sid             text,
    id_token            text,
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash),
    CONSTRAINT sessions_token_hash_length CHECK (octet_length(token_hash) = 32),
    -- The sliding expiry never passes the absolute one, so expires_at alone says
    -- whether a row is dead and one index serves the sweeper.
    CONSTRAINT sessions_expiry_within_absolute CHECK (expires_at <= absolute_expires_at)
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_provider_idp_sid_idx ON sessions (provider, idp_sid) WHERE idp_sid IS NOT NULL;

CREATE TABLE verification_tokens (
    identifier text        NOT NULL,
    -- SHA-256 of the token.
    token      bytea       NOT NULL,
    expires    timestamptz NOT NULL,
    PRIMARY KEY (identifier, token)
);
CREATE INDEX verification_tokens_expires_idx ON verification_tokens (expires);

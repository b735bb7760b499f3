-- Provider sessions (`sid`) whose latchkey session was revoked or signed out, when, and
-- the latest authentication (`auth_time`) a revoked session of it rested on. A sign-in
-- that the provider completed on one of them without authenticating the person since
-- (its `auth_time` not after that one, both on the provider's clock) is refused and sent
-- back for the password: a revoked device cannot ride the provider's single sign-on back
-- in, whatever cookies its holder deletes. Kept until `expires_at` (the longest a session
-- can live), then swept.
CREATE TABLE revoked_idp_sessions (
    provider   text        NOT NULL,
    idp_sid    text        NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now(),
    auth_time  timestamptz,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (provider, idp_sid)
);
CREATE INDEX revoked_idp_sessions_expires_at_idx ON revoked_idp_sessions (expires_at);

-- When the person last authenticated at the provider for this session (the ID token's
-- `auth_time`): what the recent-sign-in guard checks.
ALTER TABLE sessions ADD COLUMN auth_time timestamptz;

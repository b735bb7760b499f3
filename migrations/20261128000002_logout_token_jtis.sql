-- Back-channel logout tokens already acted on, so that a replayed token is refused on
-- every instance. Rows are kept until the token itself has expired; the sweeper
-- removes them after that.
CREATE TABLE logout_token_jtis (
    issuer     text        NOT NULL,
    jti        text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX logout_token_jtis_expires_at_idx ON logout_token_jtis (expires_at);

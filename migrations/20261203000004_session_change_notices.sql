-- Every change that makes a cached session wrong is announced on the channel
-- `lk_<schema>`, so that each instance's session cache drops it at once: a live session
-- deleted (revoked, signed out, back-channel logout, by hand in psql) or updated
-- (extended, stamped), a user updated (profile), the table truncated. Rows the sweeper
-- deletes are already expired, which a cache sees by itself: no notice for them.
CREATE FUNCTION session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' OR OLD.expires_at > now() THEN
        PERFORM pg_notify('lk_' || TG_TABLE_SCHEMA, 's' || encode(OLD.token_hash, 'hex'));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER sessions_changed AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION session_changed();

CREATE FUNCTION user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lk_' || TG_TABLE_SCHEMA, 'u' || OLD.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER users_changed AFTER UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION user_changed();

CREATE FUNCTION sessions_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lk_' || TG_TABLE_SCHEMA, '*');
    RETURN NULL;
END
$$;
CREATE TRIGGER sessions_truncated AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION sessions_truncated();

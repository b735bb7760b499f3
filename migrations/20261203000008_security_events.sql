-- What happened to a person's sessions, for them ("Recent activity" on the sessions page)
-- and for admins: sign-ins, sign-outs, revocations (by the person or an admin),
-- back-channel logouts, refreshes the provider refused, and sessions a new sign-in
-- ended (the one its browser held, the oldest past the most a person keeps). Each row is
-- written by the same statement as the change it records, so that neither exists
-- without the other.
-- Nothing secret is kept: no token or hash of one, no cookie, no URL; the device is its
-- label ("Firefox on Linux"), not the user agent. Rows older than
-- `auth.security_events.retention` are swept.
CREATE TABLE security_events (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text        NOT NULL,
    -- The clock at the insert, not the transaction's start: a sign-in's own event comes
    -- before those of the sessions it then ended, in the same transaction.
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The session concerned (its public id): signed in, signed out, revoked, ended. No
    -- foreign key: the event outlives the session.
    session_id  uuid,
    -- The administrator who acted, for an action of the admin console; NULL when the
    -- person acted (or their provider did).
    admin_id    uuid,
    provider    text,
    -- Where the action came from: the device label and address of the request, when a
    -- browser made it.
    device      text,
    ip          inet,
    -- How many sessions a revocation or a back-channel logout ended.
    sessions    integer,
    -- A sign-in from a browser and system (device label) this user had not signed in
    -- from before (how it is decided: the sign-in statement, src/store/events.rs).
    new_device  boolean     NOT NULL DEFAULT false,
    CONSTRAINT security_events_kind CHECK (kind IN (
        'sign_in', 'sign_out', 'revoke_one', 'revoke_others', 'revoke_everywhere',
        'backchannel_logout', 'refresh_refused', 'replaced', 'evicted'))
);
-- A person's latest events, and the sweeper's oldest.
CREATE INDEX security_events_user_id_idx ON security_events (user_id, occurred_at);
CREATE INDEX security_events_occurred_at_idx ON security_events (occurred_at);
-- Whether a user signed in from a device before (the new-device check at each sign-in).
CREATE INDEX security_events_sign_ins_idx ON security_events (user_id, device) WHERE kind = 'sign_in';

-- A session signed in from a new device whose notice is still to be shown: read with the
-- session by the lookup every guarded request makes, cleared by the write that shows it.
ALTER TABLE sessions ADD COLUMN new_device_notice boolean NOT NULL DEFAULT false;

-- The roles and groups a sign-in's verified claims granted, kept with the session they
-- were proved for: a guarded request reads them with the session, in the same row.
ALTER TABLE sessions
    ADD COLUMN realm_roles  text[] NOT NULL DEFAULT '{}',
    ADD COLUMN client_roles text[] NOT NULL DEFAULT '{}',
    ADD COLUMN groups       text[] NOT NULL DEFAULT '{}';

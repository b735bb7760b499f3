-- The notes app's own table, in `public`, beside latchkey's schema. `user_id` is
-- latchkey's user id (no foreign key: the app's migrations may run before latchkey's).
CREATE TABLE notes (
    id         bigserial   PRIMARY KEY,
    user_id    uuid        NOT NULL,
    text       text        NOT NULL CHECK (length(text) BETWEEN 1 AND 2000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_user_id_idx ON notes (user_id, id);

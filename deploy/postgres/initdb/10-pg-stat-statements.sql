-- Run once by the postgres image on a fresh volume (docker-compose.yml), as the
-- superuser `latchkey`. Mirrors scripts/services: pg_stat_statements in template1 (so
-- every test database, a copy of template1, has it) and in latchkey.
\connect template1
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
\connect latchkey
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

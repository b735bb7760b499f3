-- Only an e-mail address a provider verified belongs to one user: an unverified one
-- (anyone can type any address at some providers) neither blocks the address nor is
-- linked to, so nobody can hold a victim's address before the victim signs up.
DROP INDEX users_email_lower_key;
CREATE UNIQUE INDEX users_verified_email_key ON users (lower(email)) WHERE email_verified IS NOT NULL;

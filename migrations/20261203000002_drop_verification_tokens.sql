-- NextAuth keeps e-mail sign-in links in verification_tokens; latchkey signs people in
-- through OpenID Connect only, and nothing ever wrote this table.
DROP TABLE verification_tokens;

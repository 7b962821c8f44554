-- OpenID tokens (`/user/{userId}/openid/request_token`): what a widget or a call service shows
-- to prove who the user is, checked at `/_matrix/federation/v1/openid/userinfo`. Kept as
-- sha256 digests, like access tokens; org-local.
CREATE TABLE hs_openid_tokens (
    token_digest TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    expires_ms   BIGINT NOT NULL
);
CREATE INDEX hs_openid_tokens_expiry ON hs_openid_tokens (expires_ms);

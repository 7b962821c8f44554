-- Refresh tokens (`/refresh`, MSC2918): kept with the access tokens, as digests, so that
-- revoking a device's tokens revokes both kinds. `refresh` = 1 marks a refresh token;
-- `expires_ts` is when an access token issued with one expires (NULL: never).
ALTER TABLE hs_access_tokens ADD COLUMN expires_ts BIGINT;
ALTER TABLE hs_access_tokens ADD COLUMN refresh BIGINT NOT NULL DEFAULT 0;

-- Account suspension (the account may read, leave and log out, not act) and locking (every
-- request answers M_USER_LOCKED), set by the organisation's admins.
ALTER TABLE hs_users ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hs_users ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;

-- Org-local accounts of the homeserver (tables prefixed hs_). Flags are 0/1 integers so that
-- the same SQL works on SQLite and PostgreSQL through sqlx's Any driver.
CREATE TABLE hs_users (
    user_id       TEXT PRIMARY KEY,
    localpart     TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    approved      INTEGER NOT NULL DEFAULT 0,
    deactivated   INTEGER NOT NULL DEFAULT 0,
    created_ts    INTEGER NOT NULL,
    approved_by   TEXT,
    approved_ts   INTEGER,
    displayname   TEXT,
    avatar_url    TEXT
);

CREATE TABLE hs_devices (
    user_id      TEXT NOT NULL REFERENCES hs_users(user_id),
    device_id    TEXT NOT NULL,
    display_name TEXT,
    last_seen_ts INTEGER,
    last_seen_ip TEXT,
    created_ts   INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE hs_access_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES hs_users(user_id),
    device_id  TEXT NOT NULL,
    created_ts INTEGER NOT NULL
);
CREATE INDEX hs_access_tokens_device ON hs_access_tokens (user_id, device_id);

CREATE TABLE hs_filters (
    user_id     TEXT NOT NULL REFERENCES hs_users(user_id),
    filter_id   TEXT NOT NULL,
    filter_json TEXT NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);

-- What the single-node LocalOnlyLedger "publishes": the registrations and deactivations it accepted.
CREATE TABLE hs_local_ledger (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    approved_by TEXT,
    ts          INTEGER NOT NULL
);

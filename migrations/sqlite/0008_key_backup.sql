-- Server-side key backup (`/room_keys`): org-local, never on the ledger. The keys are
-- encrypted by the client with a backup key the server never sees.
CREATE TABLE hs_backup_versions (
    user_id   TEXT NOT NULL,
    version   BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    etag      BIGINT NOT NULL,
    deleted   BIGINT NOT NULL,
    PRIMARY KEY (user_id, version)
);
CREATE TABLE hs_backup_keys (
    user_id             TEXT NOT NULL,
    version             BIGINT NOT NULL,
    room_id             TEXT NOT NULL,
    session_id          TEXT NOT NULL,
    first_message_index BIGINT NOT NULL,
    forwarded_count     BIGINT NOT NULL,
    is_verified         BIGINT NOT NULL,
    key_data            TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);

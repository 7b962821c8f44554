-- Org-local room data of the homeserver: what never goes on the ledger.

-- Idempotent sends: a (user, device, txn id) always answers the same event id.
CREATE TABLE hs_send_txns (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id    TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);
CREATE INDEX hs_send_txns_event ON hs_send_txns (event_id);

-- Monotonic counters of org-local streams (account data, private receipts, forgotten rooms).
CREATE TABLE hs_counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO hs_counters (name, value) VALUES ('local', 0);

-- Global (room_id = '') and per-room account data; stream_id orders changes for /sync.
CREATE TABLE hs_account_data (
    user_id   TEXT NOT NULL,
    room_id   TEXT NOT NULL,
    data_type TEXT NOT NULL,
    content   TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, data_type)
);
CREATE INDEX hs_account_data_stream ON hs_account_data (user_id, stream_id);

-- Private read receipts (m.read.private): only their owner sees them.
CREATE TABLE hs_private_receipts (
    user_id   TEXT NOT NULL,
    room_id   TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    ts        BIGINT NOT NULL,
    stream_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, thread_id)
);

-- Rooms a user left and then forgot: no longer shown to them.
CREATE TABLE hs_forgotten_rooms (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

-- Device keys and one-time keys uploaded by this node's devices (`/keys/upload`). Kept
-- org-local until keys are published on the ledger.
CREATE TABLE hs_device_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    keys_json TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE hs_one_time_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    fallback  BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm, key_id)
);

-- End-to-end encryption keys on the ledger (every organisation holds the same rows, written
-- only while applying a block), and the homeserver's org-local delivery state.
-- Keys kept on the node before they went on the ledger are dropped: devices upload again.
DROP TABLE hs_one_time_keys;
DROP TABLE hs_device_keys;

-- The current identity keys of every device of every user.
CREATE TABLE bridge_device_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    keys_json TEXT NOT NULL,
    pos       BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- One-time keys; `claimed_pos` is the ledger position of the claim that took the key.
CREATE TABLE bridge_one_time_keys (
    user_id     TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    algorithm   TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    key_json    TEXT NOT NULL,
    pos         BIGINT NOT NULL,
    claimed_pos BIGINT,
    PRIMARY KEY (user_id, device_id, algorithm, key_id)
);
CREATE INDEX bridge_one_time_keys_free ON bridge_one_time_keys (user_id, device_id, algorithm, claimed_pos);

-- The fallback key of each device and algorithm; `used` once it was handed out.
CREATE TABLE bridge_fallback_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    used      BIGINT NOT NULL,
    pos       BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm)
);

-- What each claim handed out, read back by the claiming node to answer its client.
CREATE TABLE bridge_key_claims (
    pos       BIGINT NOT NULL,
    seq       BIGINT NOT NULL,
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    PRIMARY KEY (pos, seq)
);

-- Cross-signing keys: `key_type` is master, self_signing or user_signing.
CREATE TABLE bridge_cross_signing_keys (
    user_id  TEXT NOT NULL,
    key_type TEXT NOT NULL,
    key_json TEXT NOT NULL,
    pos      BIGINT NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Every change of a user's keys, in ledger order: the key transparency log, and what
-- `device_lists.changed` is computed from.
CREATE TABLE bridge_key_log (
    pos     BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    org     TEXT NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL,
    PRIMARY KEY (pos, seq)
);
CREATE INDEX bridge_key_log_user ON bridge_key_log (user_id, pos);

-- To-device messages that crossed the ledger, for each recipient device.
CREATE TABLE bridge_to_device (
    pos        BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    sender     TEXT NOT NULL,
    event_type TEXT NOT NULL,
    content    TEXT NOT NULL,
    PRIMARY KEY (pos, seq)
);
CREATE INDEX bridge_to_device_recipient ON bridge_to_device (user_id, device_id, pos);

-- Org-local: how far each device has acknowledged its to-device messages (a `/sync` with a
-- later `since`), and to-device messages between devices of this organisation.
CREATE TABLE hs_to_device_acks (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    acked     BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);
CREATE TABLE hs_send_to_device_txns (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id    TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

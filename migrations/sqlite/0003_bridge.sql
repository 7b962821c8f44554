-- The projection of the ledger that every node applies committed blocks to.
CREATE TABLE bridge_state (
    id             BIGINT PRIMARY KEY,
    applied_height BIGINT NOT NULL
);
INSERT INTO bridge_state (id, applied_height) VALUES (1, 0);

-- Accept/reject outcome of every committed transaction, so the submitting node can answer
-- its client and the app hash can commit to it.
CREATE TABLE bridge_outcomes (
    height   BIGINT NOT NULL,
    idx      BIGINT NOT NULL,
    accepted BIGINT NOT NULL,
    reason   TEXT,
    PRIMARY KEY (height, idx)
);

-- Users of every organisation, as certified on the ledger.
CREATE TABLE bridge_users (
    user_id        TEXT PRIMARY KEY,
    org            TEXT NOT NULL,
    approved_by    TEXT NOT NULL,
    approved_at_ms BIGINT NOT NULL,
    height         BIGINT NOT NULL,
    deactivated    BIGINT NOT NULL DEFAULT 0,
    displayname    TEXT,
    avatar_url     TEXT
);

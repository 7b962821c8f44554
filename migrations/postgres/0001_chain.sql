-- The ledger: committed blocks with their commit certificates, and an index of
-- transaction hashes (for replay refusal and inclusion proofs).
CREATE TABLE chain_blocks (
    height      BIGINT PRIMARY KEY,
    hash        BYTEA NOT NULL,
    time_ms     BIGINT NOT NULL,
    block       BYTEA NOT NULL,
    certificate BYTEA NOT NULL,
    app_hash    BYTEA NOT NULL
);

CREATE TABLE chain_txs (
    hash   BYTEA PRIMARY KEY,
    height BIGINT NOT NULL,
    idx    BIGINT NOT NULL
);

-- Blocks proposed or received but not yet decided, kept so a restarted node can answer
-- consensus about values it saw before it stopped.
CREATE TABLE chain_undecided (
    height   BIGINT NOT NULL,
    round    BIGINT NOT NULL,
    hash     BYTEA NOT NULL,
    proposer BYTEA NOT NULL,
    valid    BIGINT NOT NULL,
    block    BYTEA NOT NULL,
    PRIMARY KEY (height, round, hash)
);

-- The ledger: committed blocks with their commit certificates, and an index of
-- transaction hashes (for replay refusal and inclusion proofs).
CREATE TABLE chain_blocks (
    height      BIGINT PRIMARY KEY,
    hash        BLOB NOT NULL,
    time_ms     BIGINT NOT NULL,
    block       BLOB NOT NULL,
    certificate BLOB NOT NULL,
    app_hash    BLOB NOT NULL
);

CREATE TABLE chain_txs (
    hash   BLOB PRIMARY KEY,
    height BIGINT NOT NULL,
    idx    BIGINT NOT NULL
) WITHOUT ROWID;

-- Blocks proposed or received but not yet decided, kept so a restarted node can answer
-- consensus about values it saw before it stopped.
CREATE TABLE chain_undecided (
    height   BIGINT NOT NULL,
    round    BIGINT NOT NULL,
    hash     BLOB NOT NULL,
    proposer BLOB NOT NULL,
    valid    BIGINT NOT NULL,
    block    BLOB NOT NULL,
    PRIMARY KEY (height, round, hash)
);

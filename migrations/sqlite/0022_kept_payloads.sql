-- The transactions of a block whose payloads the application keeps itself (borsh list of
-- indexes; NULL when the block holds all of them). A room event's PDU is stored once, in
-- bridge_room_events, instead of again in its block.
ALTER TABLE chain_blocks ADD COLUMN kept BLOB;

-- A redacted event's JSON as committed, which its block needs back when it is read.
ALTER TABLE bridge_room_events ADD COLUMN unredacted TEXT;

-- Only state events are looked up by (type, state key), and only relating events by the
-- event they relate to: the two indexes leave every other event out.
DROP INDEX bridge_room_events_state_pos;
CREATE INDEX bridge_room_events_state_pos ON bridge_room_events (room_id, event_type, state_key, pos)
    WHERE state_key IS NOT NULL;
DROP INDEX bridge_room_events_relations;
CREATE INDEX bridge_room_events_relations ON bridge_room_events (room_id, relates_to, pos)
    WHERE relates_to IS NOT NULL;

-- Outcomes keyed by their primary key alone (no rowid and second index), each effect digest
-- as its 32 bytes instead of 64 hex characters.
CREATE TABLE bridge_outcomes_compact (
    height   BIGINT NOT NULL,
    idx      BIGINT NOT NULL,
    accepted BIGINT NOT NULL,
    reason   TEXT,
    code     TEXT,
    effect   BLOB,
    PRIMARY KEY (height, idx)
) WITHOUT ROWID;
INSERT INTO bridge_outcomes_compact (height, idx, accepted, reason, code, effect)
    SELECT height, idx, accepted, reason, code, unhex(effect) FROM bridge_outcomes;
DROP TABLE bridge_outcomes;
ALTER TABLE bridge_outcomes_compact RENAME TO bridge_outcomes;

-- What serving rooms to clients needs from the projection: one ledger position per event
-- (`pos`, see the bridge's `position` module), memberships, redactions, aliases, the room
-- directory and read receipts. Everything here is written only while applying a block.
ALTER TABLE bridge_room_events ADD COLUMN pos BIGINT NOT NULL DEFAULT 0;
ALTER TABLE bridge_room_events ADD COLUMN membership TEXT;
ALTER TABLE bridge_room_events ADD COLUMN redacted_by TEXT;
UPDATE bridge_room_events SET pos = height * 8388608 + idx * 256;
UPDATE bridge_room_events SET membership = (json::jsonb) -> 'content' ->> 'membership'
    WHERE event_type = 'm.room.member';
CREATE INDEX bridge_room_events_room_pos ON bridge_room_events (room_id, pos);
CREATE INDEX bridge_room_events_state_pos ON bridge_room_events (room_id, event_type, state_key, pos);
CREATE INDEX bridge_room_events_pos ON bridge_room_events (pos);

-- Current membership of every user in every room.
CREATE TABLE bridge_memberships (
    room_id    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    membership TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    pos        BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX bridge_memberships_user ON bridge_memberships (user_id, membership);
INSERT INTO bridge_memberships (room_id, user_id, membership, event_id, pos)
    SELECT s.room_id, s.state_key, e.membership, e.event_id, e.pos
    FROM bridge_room_state s JOIN bridge_room_events e ON e.event_id = s.event_id
    WHERE s.event_type = 'm.room.member' AND e.membership IS NOT NULL;

-- Room aliases (`#name:server`), owned by the organisation of their server name.
CREATE TABLE bridge_aliases (
    alias   TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    creator TEXT NOT NULL,
    pos     BIGINT NOT NULL
);
CREATE INDEX bridge_aliases_room ON bridge_aliases (room_id);

-- Rooms published in the consortium's room directory.
CREATE TABLE bridge_public_rooms (
    room_id TEXT PRIMARY KEY,
    pos     BIGINT NOT NULL
);

-- The latest public read receipt of each user in each room (and thread).
CREATE TABLE bridge_receipts (
    room_id      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    thread_id    TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    ts           BIGINT NOT NULL,
    pos          BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, receipt_type, thread_id)
);
CREATE INDEX bridge_receipts_room_pos ON bridge_receipts (room_id, pos);
CREATE INDEX bridge_receipts_pos ON bridge_receipts (pos);

-- Rooms as the ledger built them: every accepted RoomEvent, in ledger order, and each room's
-- current state.
CREATE TABLE bridge_rooms (
    room_id        TEXT PRIMARY KEY,
    version        TEXT NOT NULL,
    creator        TEXT NOT NULL,
    created_height BIGINT NOT NULL
);

-- Accepted events; (height, idx) is the ledger position and the timeline order.
CREATE TABLE bridge_room_events (
    event_id   TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL,
    height     BIGINT NOT NULL,
    idx        BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    state_key  TEXT,
    sender     TEXT NOT NULL,
    depth      BIGINT NOT NULL,
    json       TEXT NOT NULL
);
CREATE INDEX bridge_room_events_order ON bridge_room_events (room_id, height, idx);

-- The current state of every room: (type, state_key) -> event.
CREATE TABLE bridge_room_state (
    room_id    TEXT NOT NULL,
    event_type TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    PRIMARY KEY (room_id, event_type, state_key)
);

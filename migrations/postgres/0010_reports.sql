-- Reports of events, rooms and users (`/report`), kept by the reporter's own organisation
-- for its admins (`/_synapse/admin/v1/event_reports`); never on the ledger.
CREATE TABLE hs_reports (
    id           BIGINT NOT NULL PRIMARY KEY,
    kind         TEXT NOT NULL,
    room_id      TEXT,
    event_id     TEXT,
    target_user  TEXT,
    event_sender TEXT,
    reporter     TEXT NOT NULL,
    reason       TEXT,
    received_ts  BIGINT NOT NULL
);
CREATE INDEX hs_reports_kind ON hs_reports (kind, id);
INSERT INTO hs_counters (name, value) VALUES ('reports', 0);

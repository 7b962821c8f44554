-- The full-text index without a second copy of each body: the old table kept every indexed
-- text in its content table beside the event's own JSON. This one is contentless (rowid is
-- the event's `pos`, which never changes), keeps one column per searchable key so a search
-- filters by key with a column filter, and records which column a term is in but not its
-- positions (searches are word prefixes, never phrases). A deleted or redacted event's row
-- is deleted by rowid. SQLite only: PostgreSQL's index already holds only the vector.
DROP TRIGGER hs_event_search_insert;
DROP TRIGGER hs_event_search_redact;
DROP TRIGGER hs_event_search_delete;
DROP TABLE hs_event_search;

CREATE VIRTUAL TABLE hs_event_search USING fts5(
    body,
    name,
    topic,
    content = '',
    contentless_delete = 1,
    detail = column,
    tokenize = 'unicode61'
);

INSERT INTO hs_event_search (rowid, body, name, topic)
SELECT pos,
       CASE WHEN event_type = 'm.room.message' THEN text END,
       CASE WHEN event_type = 'm.room.name' THEN text END,
       CASE WHEN event_type = 'm.room.topic' THEN text END
  FROM (
    SELECT pos, event_type,
           json_extract(json, CASE event_type
                                  WHEN 'm.room.message' THEN '$.content.body'
                                  WHEN 'm.room.name' THEN '$.content.name'
                                  ELSE '$.content.topic' END) AS text
      FROM bridge_room_events
     WHERE event_type IN ('m.room.message', 'm.room.name', 'm.room.topic')
       AND redacted_by IS NULL
  ) WHERE typeof(text) = 'text';

CREATE TRIGGER hs_event_search_insert AFTER INSERT ON bridge_room_events
WHEN NEW.event_type IN ('m.room.message', 'm.room.name', 'm.room.topic')
BEGIN
    INSERT INTO hs_event_search (rowid, body, name, topic)
    SELECT NEW.pos,
           CASE WHEN NEW.event_type = 'm.room.message' THEN text END,
           CASE WHEN NEW.event_type = 'm.room.name' THEN text END,
           CASE WHEN NEW.event_type = 'm.room.topic' THEN text END
      FROM (
        SELECT json_extract(NEW.json, CASE NEW.event_type
                                          WHEN 'm.room.message' THEN '$.content.body'
                                          WHEN 'm.room.name' THEN '$.content.name'
                                          ELSE '$.content.topic' END) AS text
      ) WHERE typeof(text) = 'text';
END;

CREATE TRIGGER hs_event_search_redact AFTER UPDATE OF redacted_by ON bridge_room_events
WHEN NEW.redacted_by IS NOT NULL AND OLD.redacted_by IS NULL
BEGIN
    DELETE FROM hs_event_search WHERE rowid = NEW.pos;
END;

CREATE TRIGGER hs_event_search_delete AFTER DELETE ON bridge_room_events
BEGIN
    DELETE FROM hs_event_search WHERE rowid = OLD.pos;
END;

-- Every query that reads events of a room by ledger order uses (room_id, pos); this index of
-- (room_id, height, idx) was used by none.
DROP INDEX bridge_room_events_order;

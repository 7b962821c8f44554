-- Full-text search over room events (`POST /search`): message bodies, room names and topics,
-- kept by triggers in step with the rooms projection, so every way an event arrives is
-- indexed and a redaction takes the text out. Encrypted events have no plaintext to index.
CREATE VIRTUAL TABLE hs_event_search USING fts5(
    body,
    event_id UNINDEXED,
    search_key UNINDEXED,
    tokenize = 'unicode61'
);

INSERT INTO hs_event_search (body, event_id, search_key)
SELECT body, event_id, search_key FROM (
    SELECT event_id, 'content.body' AS search_key, json_extract(json, '$.content.body') AS body
      FROM bridge_room_events WHERE event_type = 'm.room.message' AND redacted_by IS NULL
    UNION ALL
    SELECT event_id, 'content.name', json_extract(json, '$.content.name')
      FROM bridge_room_events WHERE event_type = 'm.room.name' AND redacted_by IS NULL
    UNION ALL
    SELECT event_id, 'content.topic', json_extract(json, '$.content.topic')
      FROM bridge_room_events WHERE event_type = 'm.room.topic' AND redacted_by IS NULL
) WHERE typeof(body) = 'text';

CREATE TRIGGER hs_event_search_insert AFTER INSERT ON bridge_room_events
WHEN NEW.event_type IN ('m.room.message', 'm.room.name', 'm.room.topic')
BEGIN
    INSERT INTO hs_event_search (body, event_id, search_key)
    SELECT body, NEW.event_id, search_key FROM (
        SELECT CASE NEW.event_type
                   WHEN 'm.room.message' THEN json_extract(NEW.json, '$.content.body')
                   WHEN 'm.room.name' THEN json_extract(NEW.json, '$.content.name')
                   ELSE json_extract(NEW.json, '$.content.topic') END AS body,
               CASE NEW.event_type
                   WHEN 'm.room.message' THEN 'content.body'
                   WHEN 'm.room.name' THEN 'content.name'
                   ELSE 'content.topic' END AS search_key
    ) WHERE typeof(body) = 'text';
END;

CREATE TRIGGER hs_event_search_redact AFTER UPDATE OF redacted_by ON bridge_room_events
WHEN NEW.redacted_by IS NOT NULL
BEGIN
    DELETE FROM hs_event_search WHERE event_id = NEW.event_id;
END;

CREATE TRIGGER hs_event_search_delete AFTER DELETE ON bridge_room_events
BEGIN
    DELETE FROM hs_event_search WHERE event_id = OLD.event_id;
END;

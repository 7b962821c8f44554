-- Full-text search over room events (`POST /search`): message bodies, room names and topics,
-- kept by triggers in step with the rooms projection, so every way an event arrives is
-- indexed and a redaction takes the text out. Encrypted events have no plaintext to index.
CREATE TABLE hs_event_search (
    event_id   TEXT PRIMARY KEY,
    search_key TEXT NOT NULL,
    vector     TSVECTOR NOT NULL
);
CREATE INDEX hs_event_search_vector ON hs_event_search USING GIN (vector);

CREATE FUNCTION hs_event_search_text(event_type TEXT, pdu TEXT) RETURNS TEXT[] AS $$
DECLARE
    content JSONB := pdu::jsonb -> 'content';
BEGIN
    IF event_type = 'm.room.message' AND jsonb_typeof(content -> 'body') = 'string' THEN
        RETURN ARRAY['content.body', content ->> 'body'];
    ELSIF event_type = 'm.room.name' AND jsonb_typeof(content -> 'name') = 'string' THEN
        RETURN ARRAY['content.name', content ->> 'name'];
    ELSIF event_type = 'm.room.topic' AND jsonb_typeof(content -> 'topic') = 'string' THEN
        RETURN ARRAY['content.topic', content ->> 'topic'];
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql IMMUTABLE;

INSERT INTO hs_event_search (event_id, search_key, vector)
SELECT event_id, t[1], to_tsvector('simple', t[2]) FROM (
    SELECT event_id, hs_event_search_text(event_type, json) AS t
      FROM bridge_room_events
     WHERE event_type IN ('m.room.message', 'm.room.name', 'm.room.topic')
       AND redacted_by IS NULL
) s WHERE t IS NOT NULL;

CREATE FUNCTION hs_event_search_apply() RETURNS TRIGGER AS $$
DECLARE
    t TEXT[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM hs_event_search WHERE event_id = OLD.event_id;
        RETURN OLD;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.redacted_by IS NOT NULL THEN
            DELETE FROM hs_event_search WHERE event_id = NEW.event_id;
        END IF;
        RETURN NEW;
    END IF;
    t := hs_event_search_text(NEW.event_type, NEW.json);
    IF t IS NOT NULL THEN
        INSERT INTO hs_event_search (event_id, search_key, vector)
        VALUES (NEW.event_id, t[1], to_tsvector('simple', t[2]))
        ON CONFLICT (event_id) DO NOTHING;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER hs_event_search_insert AFTER INSERT ON bridge_room_events
FOR EACH ROW WHEN (NEW.event_type IN ('m.room.message', 'm.room.name', 'm.room.topic'))
EXECUTE FUNCTION hs_event_search_apply();
CREATE TRIGGER hs_event_search_redact AFTER UPDATE OF redacted_by ON bridge_room_events
FOR EACH ROW EXECUTE FUNCTION hs_event_search_apply();
CREATE TRIGGER hs_event_search_delete AFTER DELETE ON bridge_room_events
FOR EACH ROW EXECUTE FUNCTION hs_event_search_apply();

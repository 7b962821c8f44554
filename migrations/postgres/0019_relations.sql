-- Each room event's relation (`content.m.relates_to`: the event it relates to and how), for
-- `/relations` and `/threads` without reading every event's JSON.
ALTER TABLE bridge_room_events ADD COLUMN relates_to TEXT;
ALTER TABLE bridge_room_events ADD COLUMN rel_type TEXT;
UPDATE bridge_room_events
   SET relates_to = json::jsonb -> 'content' -> 'm.relates_to' ->> 'event_id',
       rel_type = json::jsonb -> 'content' -> 'm.relates_to' ->> 'rel_type';
CREATE INDEX bridge_room_events_relations ON bridge_room_events (room_id, relates_to, pos);

-- Each room event's origin_server_ts, indexed per room, for jumping to a date
-- (`/timestamp_to_event`) without reading every event's JSON.
ALTER TABLE bridge_room_events ADD COLUMN origin_server_ts BIGINT;
UPDATE bridge_room_events SET origin_server_ts = (json::jsonb ->> 'origin_server_ts')::bigint;
CREATE INDEX bridge_room_events_ts ON bridge_room_events (room_id, origin_server_ts);

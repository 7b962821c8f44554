//! Room event filters (`RoomEventFilter` of the spec): which events of a page a client wants,
//! with `*` wildcards in event types.

use ruma::OwnedRoomId;
use ruma::api::client::filter::RoomEventFilter;

use consort_bridge::rooms::read::StoredEvent;

/// Whether `value` matches a filter pattern, where `*` stands for any run of characters.
pub fn glob(pattern: &str, value: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else {
        return pattern == value;
    };
    let Some(mut tail) = value.strip_prefix(head) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    let (last, middle) = parts.split_last().expect("split yields at least one part");
    for part in middle {
        match tail.find(part) {
            Some(i) => tail = &tail[i + part.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

/// Whether `event` passes the filter's type, sender and url conditions.
pub fn matches(filter: &RoomEventFilter, event: &StoredEvent) -> bool {
    if let Some(types) = &filter.types
        && !types.iter().any(|t| glob(t, &event.kind))
    {
        return false;
    }
    if filter.not_types.iter().any(|t| glob(t, &event.kind)) {
        return false;
    }
    if let Some(senders) = &filter.senders
        && !senders.iter().any(|s| s.as_str() == event.sender)
    {
        return false;
    }
    if filter
        .not_senders
        .iter()
        .any(|s| s.as_str() == event.sender)
    {
        return false;
    }
    if let Some(url_filter) = filter.url_filter {
        let has_url = content_has_url(&event.json);
        let wanted = matches!(
            url_filter,
            ruma::api::client::filter::UrlFilter::EventsWithUrl
        );
        if has_url != wanted {
            return false;
        }
    }
    true
}

/// Whether the event's content carries a `url` (media), for `contains_url`.
fn content_has_url(json: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Pdu {
        content: Content,
    }
    #[derive(serde::Deserialize)]
    struct Content {
        url: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_str::<Pdu>(json).is_ok_and(|p| p.content.url.is_some())
}

/// Whether a filter's `rooms` / `not_rooms` admit `room_id`.
pub fn admits_room(
    rooms: Option<&[OwnedRoomId]>,
    not_rooms: &[OwnedRoomId],
    room_id: &str,
) -> bool {
    if let Some(rooms) = rooms
        && !rooms.iter().any(|r| r.as_str() == room_id)
    {
        return false;
    }
    !not_rooms.iter().any(|r| r.as_str() == room_id)
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn wildcards() {
        assert!(glob("m.room.*", "m.room.message"));
        assert!(glob("*", "anything"));
        assert!(glob("m.*.message", "m.room.message"));
        assert!(!glob("m.room.*", "m.call.invite"));
        assert!(glob("m.room.message", "m.room.message"));
        assert!(!glob("m.room.message*x", "m.room.message"));
        assert!(glob("a*a", "aa"));
        assert!(!glob("a*a", "a"));
    }
}

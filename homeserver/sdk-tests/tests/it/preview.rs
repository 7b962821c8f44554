//! Previewing a room before joining, as clients do: a user of another organisation reads a
//! world-readable public room's state, members and history through matrix-sdk, and is refused
//! (`M_FORBIDDEN`) for a public room whose history is not world-readable.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use matrix_sdk::Client;
use matrix_sdk::room_preview::RoomPreview;
use matrix_sdk::ruma::api::client::message::get_message_events;
use matrix_sdk::ruma::api::client::room::create_room::v3::{
    Request as CreateRoomRequest, RoomPreset,
};
use matrix_sdk::ruma::api::client::state::get_state_events;
use matrix_sdk::ruma::events::room::history_visibility::{
    HistoryVisibility, RoomHistoryVisibilityEventContent,
};
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::events::{AnyStateEvent, InitialStateEvent};
use matrix_sdk::ruma::{OwnedRoomId, RoomId};

use crate::support::{errcode, user};

/// A public room created by `owner`, world-readable when `world_readable`.
async fn public_room(owner: &Client, name: &str, world_readable: bool) -> OwnedRoomId {
    let mut request = CreateRoomRequest::new();
    request.name = Some(name.to_owned());
    request.preset = Some(RoomPreset::PublicChat);
    if world_readable {
        let content = RoomHistoryVisibilityEventContent::new(HistoryVisibility::WorldReadable);
        request.initial_state = vec![InitialStateEvent::with_empty_state_key(content).to_raw_any()];
    }
    let room = owner.create_room(request).await.expect("create room");
    room.send(RoomMessageEventContent::text_plain(format!(
        "history of {name}"
    )))
    .await
    .expect("send");
    room.room_id().to_owned()
}

/// Reads the room's state as `reader`, waiting for the reader's node to apply the room.
async fn state_of(
    reader: &Client,
    room: &RoomId,
) -> matrix_sdk::HttpResult<get_state_events::v3::Response> {
    let mut last = None;
    for _ in 0..50 {
        match reader
            .send(get_state_events::v3::Request::new(room.to_owned()))
            .await
        {
            Ok(response) => return Ok(response),
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(last.expect("an error"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_organisation_previews_a_world_readable_room_only() {
    let c = Consortium::start(3, Db::Sqlite, RegistrationMode::Open).await;
    let alice = user(&c.org(1).base_url, "alice").await;
    let carol = user(&c.org(3).base_url, "carol").await;
    // The closed room first: once carol's node has applied the open one, it has both.
    let closed = public_room(&alice, "Members only", false).await;
    let open = public_room(&alice, "Open book", true).await;

    // State: the room's name and its world-readable visibility.
    let state = state_of(&carol, &open)
        .await
        .expect("state of the open room");
    let types: Vec<String> = state
        .room_state
        .iter()
        .filter_map(|e| e.deserialize().ok())
        .map(|e: AnyStateEvent| e.event_type().to_string())
        .collect();
    assert!(types.contains(&"m.room.name".to_owned()), "{types:?}");
    assert!(
        types.contains(&"m.room.history_visibility".to_owned()),
        "{types:?}"
    );

    let err = carol
        .send(get_state_events::v3::Request::new(closed.clone()))
        .await
        .expect_err("state of a room that is not world-readable");
    assert_eq!(errcode(&err.into()), Some((403, "M_FORBIDDEN".to_owned())));

    // matrix-sdk's own preview from state and joined members.
    let preview = RoomPreview::from_state_events(&carol, &open)
        .await
        .expect("preview");
    assert_eq!(preview.name.as_deref(), Some("Open book"));
    assert_eq!(preview.num_joined_members, 1);
    assert_eq!(preview.is_world_readable, Some(true));

    // History before joining.
    let messages = carol
        .send(get_message_events::v3::Request::backward(open.clone()))
        .await
        .expect("history of the open room");
    let bodies: Vec<String> = messages
        .chunk
        .iter()
        .filter_map(|e| e.get_field::<serde_json::Value>("content").ok().flatten())
        .filter_map(|c| c["body"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(bodies, ["history of Open book"]);

    // The closed room's history stays closed too.
    let err = carol
        .send(get_message_events::v3::Request::backward(closed.clone()))
        .await
        .expect_err("history of the closed room");
    assert_eq!(errcode(&err.into()), Some((403, "M_FORBIDDEN".to_owned())));
    c.shutdown().await;
}

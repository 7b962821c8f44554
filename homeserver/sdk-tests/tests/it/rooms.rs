//! Two users of different organisations chat through the real matrix-sdk client: Alice on
//! org1 creates a room and invites Bob of org2; Bob sees the invite through his own node and
//! joins (the invite names Alice as its sender); both send; each receives the other's message
//! through `/sync`; Bob paginates back.

use std::time::Duration;

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use matrix_sdk::config::SyncSettings;
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::api::client::room::create_room::v3::Request as CreateRoomRequest;
use matrix_sdk::ruma::events::AnySyncTimelineEvent;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::{OwnedRoomId, UInt, UserId};
use matrix_sdk::{Client, RoomState};

use crate::support::{bind, user};

/// Text bodies of a list of raw sync timeline events.
fn texts<'a>(
    events: impl Iterator<Item = &'a matrix_sdk::ruma::serde::Raw<AnySyncTimelineEvent>>,
) -> Vec<String> {
    events
        .filter_map(|raw| raw.get_field::<serde_json::Value>("content").ok().flatten())
        .filter_map(|content| content["body"].as_str().map(str::to_owned))
        .collect()
}

/// Syncs `c` until one of its syncs carries a message `body` in `room`.
async fn receive(c: &Client, room: &OwnedRoomId, body: &str) {
    let mut settings = SyncSettings::default().timeout(Duration::from_secs(10));
    for _ in 0..20 {
        let response = c.sync_once(settings.clone()).await.expect("sync");
        if let Some(joined) = response.rooms.joined.get(room) {
            let seen = texts(joined.timeline.events.iter().map(|e| e.raw()));
            if seen.iter().any(|t| t == body) {
                return;
            }
        }
        settings = settings.token(response.next_batch);
    }
    panic!("{:?} never received {body:?}", c.user_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sdk_users_of_two_organisations_chat() {
    let c = Consortium::start(4, Db::Sqlite, RegistrationMode::Open).await;
    let alice = user(&c.org(1).base_url, "alice").await;
    let bob = user(&c.org(2).base_url, "bob").await;
    let bob_id = UserId::parse("@bob:org2.localhost").expect("bob's id");
    // The default policy (`cross_org`): only contacts invite users of another organisation.
    bind(&alice, &bob).await;

    alice
        .sync_once(SyncSettings::default())
        .await
        .expect("alice syncs");
    let mut request = CreateRoomRequest::new();
    request.name = Some("Across organisations".to_owned());
    request.invite = vec![bob_id.clone()];
    let room = alice
        .create_room(request)
        .await
        .expect("alice creates the room");
    let room_id = room.room_id().to_owned();

    // Bob's own node (org2) shows the invite; he joins through it.
    let mut invited = false;
    for _ in 0..10 {
        bob.sync_once(SyncSettings::default().timeout(Duration::from_secs(5)))
            .await
            .expect("bob syncs");
        if bob
            .get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Invited)
        {
            invited = true;
            break;
        }
    }
    assert!(invited, "bob sees the invite");
    // "Alice invited you": the inviter comes from the invite's stripped state.
    let details = bob
        .get_room(&room_id)
        .expect("the invited room")
        .invite_details()
        .await
        .expect("invite details");
    assert_eq!(details.inviter_id.as_str(), "@alice:org1.localhost");
    let inviter = details
        .inviter
        .expect("the inviter's membership is in the invite");
    assert_eq!(inviter.user_id().as_str(), "@alice:org1.localhost");
    assert_eq!(details.invitee.user_id(), bob_id);
    let bobs_room = bob.join_room_by_id(&room_id).await.expect("bob joins");

    room.send(RoomMessageEventContent::text_plain("hello bob, from org1"))
        .await
        .expect("alice sends");
    receive(&bob, &room_id, "hello bob, from org1").await;

    bobs_room
        .send(RoomMessageEventContent::text_plain(
            "hello alice, from org2",
        ))
        .await
        .expect("bob sends");
    receive(&alice, &room_id, "hello alice, from org2").await;

    // Paginate back from the present: both messages, newest first, after the room's start.
    let mut options = MessagesOptions::backward();
    options.limit = UInt::from(50_u32);
    let page = bobs_room.messages(options).await.expect("messages");
    let bodies = texts(page.chunk.iter().map(|e| e.raw()));
    assert_eq!(
        bodies,
        ["hello alice, from org2", "hello bob, from org1"],
        "newest first"
    );
    let oldest = page.chunk.last().expect("events").raw();
    assert_eq!(
        oldest.get_field::<String>("type").ok().flatten().as_deref(),
        Some("m.room.create"),
        "pagination reaches the room's creation"
    );
    c.shutdown().await;
}

//! Edits, threads and reactions as Element X shows them: through `matrix-sdk-ui`'s `Timeline`.
//! Bob on org2 sends a message, edits it, replies three times in a thread on it and reacts
//! to it; Alice on org1, who was in the room all along, and Carol on org1, who joins
//! afterwards and only pages back through history (where the server's bundled aggregations
//! carry the edit and the thread's summary), both see one edited message with a thread of
//! three replies and Bob's reaction.

use std::time::Duration;

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::room::create_room::v3::{
    Request as CreateRoomRequest, RoomPreset,
};
use matrix_sdk::ruma::events::reaction::ReactionEventContent;
use matrix_sdk::ruma::events::relation::Annotation;
use matrix_sdk::ruma::events::room::message::{
    AddMentions, ReplacementMetadata, ReplyMetadata, ReplyWithinThread, RoomMessageEventContent,
};
use matrix_sdk::ruma::{EventId, OwnedRoomId, UserId};
use matrix_sdk::{Client, Room, RoomState};
use matrix_sdk_ui::timeline::{RoomExt, Timeline};

use crate::support::{bind, user};

/// Syncs `c` until it knows `room` in `wanted` state; returns the room.
async fn sync_until_room(c: &Client, room: &OwnedRoomId, wanted: RoomState) -> Room {
    for _ in 0..40 {
        c.sync_once(SyncSettings::default().timeout(Duration::from_secs(2)))
            .await
            .expect("sync");
        if let Some(r) = c.get_room(room).filter(|r| r.state() == wanted) {
            return r;
        }
    }
    panic!("{:?} never saw {room} as {wanted:?}", c.user_id());
}

/// Syncs `c` until its node has applied `event` (it can be fetched from the room).
async fn sync_until_event(c: &Client, room: &Room, event: &EventId) {
    for _ in 0..40 {
        c.sync_once(SyncSettings::default().timeout(Duration::from_secs(1)))
            .await
            .expect("sync");
        if room.event(event, None).await.is_ok() {
            return;
        }
    }
    panic!("{:?} never received {event}", c.user_id());
}

/// What a timeline shows of one message.
#[derive(Debug, PartialEq)]
struct Shown {
    body: String,
    edited: bool,
    thread_replies: Option<u32>,
    reactions: Vec<(String, Vec<String>)>,
}

async fn shown(timeline: &Timeline, event: &EventId) -> Option<Shown> {
    let items = timeline.items().await;
    let item = items
        .iter()
        .filter_map(|i| i.as_event())
        .find(|e| e.event_id() == Some(event))?;
    let content = item.content();
    let message = content.as_message()?;
    let reactions = content
        .reactions()
        .map(|by_key| {
            by_key
                .iter()
                .map(|(key, senders)| {
                    (key.clone(), senders.keys().map(|u| u.to_string()).collect())
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Shown {
        body: message.body().to_owned(),
        edited: message.is_edited(),
        thread_replies: content.thread_summary().map(|s| s.num_replies),
        reactions,
    })
}

/// Pages `timeline` back to the room's creation, then waits until it shows `event` as
/// `expected` (the timeline applies what it receives in the background).
async fn expect_shown(timeline: &Timeline, event: &EventId, expected: &Shown) {
    for _ in 0..20 {
        if timeline
            .paginate_backwards(50)
            .await
            .expect("paginate back")
        {
            break;
        }
    }
    let mut last = None;
    for _ in 0..100 {
        last = shown(timeline, event).await;
        if last.as_ref() == Some(expected) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the timeline shows {last:?}, not {expected:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timeline_shows_edits_threads_and_reactions_from_another_organisation() {
    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let alice = user(&c.org(1).base_url, "alice").await;
    let bob = user(&c.org(2).base_url, "bob").await;
    let bob_id = UserId::parse("@bob:org2.localhost").expect("bob's id");
    bind(&alice, &bob).await;

    let mut request = CreateRoomRequest::new();
    request.preset = Some(RoomPreset::PublicChat);
    request.invite = vec![bob_id.clone()];
    let room_id = alice
        .create_room(request)
        .await
        .expect("alice creates the room")
        .room_id()
        .to_owned();
    sync_until_room(&bob, &room_id, RoomState::Invited).await;
    let bobs_room = bob.join_room_by_id(&room_id).await.expect("bob joins");

    let root = bobs_room
        .send(RoomMessageEventContent::text_plain("lunch?"))
        .await
        .expect("bob sends")
        .response
        .event_id;
    bobs_room
        .send(
            RoomMessageEventContent::text_plain("lunch at noon?")
                .make_replacement(ReplacementMetadata::new(root.clone(), None)),
        )
        .await
        .expect("bob edits");
    let mut last_reply = root.clone();
    for i in 0..3 {
        let reply = RoomMessageEventContent::text_plain(format!("reply {i}")).make_for_thread(
            ReplyMetadata::new(&root, &bob_id, None),
            ReplyWithinThread::No,
            AddMentions::No,
        );
        last_reply = bobs_room
            .send(reply)
            .await
            .expect("bob replies in the thread")
            .response
            .event_id;
    }
    let reaction = bobs_room
        .send(ReactionEventContent::new(Annotation::new(
            root.clone(),
            "👍".to_owned(),
        )))
        .await
        .expect("bob reacts")
        .response
        .event_id;

    let expected = Shown {
        body: "lunch at noon?".to_owned(),
        edited: true,
        thread_replies: Some(3),
        reactions: vec![("👍".to_owned(), vec![bob_id.to_string()])],
    };
    // Alice, in the room all along, on org1.
    let alices_room = sync_until_room(&alice, &room_id, RoomState::Joined).await;
    sync_until_event(&alice, &alices_room, &reaction).await;
    sync_until_event(&alice, &alices_room, &last_reply).await;
    let timeline = alices_room.timeline().await.expect("alice's timeline");
    expect_shown(&timeline, &root, &expected).await;

    // Carol, on org1, joins afterwards and only pages back.
    let carol = user(&c.org(1).base_url, "carol").await;
    let carols_room = carol.join_room_by_id(&room_id).await.expect("carol joins");
    carol
        .sync_once(SyncSettings::default())
        .await
        .expect("carol syncs");
    let timeline = carols_room.timeline().await.expect("carol's timeline");
    expect_shown(&timeline, &root, &expected).await;
    c.shutdown().await;
}

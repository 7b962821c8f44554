//! Element X's stack against Consort: `matrix-sdk-ui`'s `SyncService` and `RoomListService`
//! over simplified sliding sync (MSC4186), discovered from `/versions` as Element X does.
//! Alice on org1 sees her rooms in recency order; a message from Bob on org2 moves its room
//! to the top and shows in a `Timeline`; what Alice sends through `Timeline::send` reaches
//! Bob; the timeline pages back to the room's creation; Bob's invite appears in the list
//! and is accepted from it.

use std::time::Duration;

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use eyeball_im::{Vector, VectorDiff};
use futures::{Stream, StreamExt};
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::room::create_room::v3::{
    Request as CreateRoomRequest, RoomPreset,
};
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::{OwnedRoomId, UserId};
use matrix_sdk::sliding_sync::VersionBuilder;
use matrix_sdk::{Client, RoomState};
use matrix_sdk_ui::room_list_service::RoomListItem;
use matrix_sdk_ui::room_list_service::filters::new_filter_non_left;
use matrix_sdk_ui::sync_service::SyncService;
use matrix_sdk_ui::timeline::{RoomExt, Timeline};

use crate::support::{bind, register, user};

/// A client that finds sliding sync in `/versions`, as Element X does.
async fn element_x(base_url: &str, localpart: &str) -> Client {
    let client = Client::builder()
        .homeserver_url(base_url)
        .sliding_sync_version_builder(VersionBuilder::DiscoverNative)
        .build()
        .await
        .expect("client builds");
    register(
        &client,
        localpart,
        &format!("{localpart}-password-1"),
        false,
    )
    .await
    .expect("register");
    client
}

/// The room list as the stream of diffs makes it, until `pred` holds (for at most 30 s of
/// updates); returns the room ids in list order.
async fn list_until(
    stream: &mut (impl Stream<Item = Vec<VectorDiff<RoomListItem>>> + Unpin),
    items: &mut Vector<RoomListItem>,
    what: &str,
    pred: impl Fn(&[(OwnedRoomId, RoomState)]) -> bool,
) -> Vec<OwnedRoomId> {
    let view = |items: &Vector<RoomListItem>| -> Vec<(OwnedRoomId, RoomState)> {
        items
            .iter()
            .map(|r| (r.room_id().to_owned(), r.state()))
            .collect()
    };
    for _ in 0..300 {
        if pred(&view(items)) {
            return view(items).into_iter().map(|(id, _)| id).collect();
        }
        if let Ok(Some(diffs)) =
            tokio::time::timeout(Duration::from_millis(100), stream.next()).await
        {
            for diff in diffs {
                diff.apply(items);
            }
        }
    }
    panic!("the room list never showed {what}: {:?}", view(items));
}

/// Waits until `timeline` shows a message `body`.
async fn timeline_shows(timeline: &Timeline, body: &str) {
    for _ in 0..200 {
        let items = timeline.items().await;
        if items
            .iter()
            .filter_map(|i| i.as_event())
            .any(|e| e.content().as_message().is_some_and(|m| m.body() == body))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the timeline never showed {body:?}");
}

/// Syncs the classic client `c` until `room` carries a message `body`.
async fn classic_receives(c: &Client, room: &OwnedRoomId, body: &str) {
    let mut settings = SyncSettings::default().timeout(Duration::from_secs(5));
    for _ in 0..20 {
        let response = c.sync_once(settings.clone()).await.expect("sync");
        if let Some(joined) = response.rooms.joined.get(room)
            && joined.timeline.events.iter().any(|e| {
                e.raw()
                    .get_field::<serde_json::Value>("content")
                    .ok()
                    .flatten()
                    .is_some_and(|c| c["body"] == body)
            })
        {
            return;
        }
        settings = settings.token(response.next_batch);
    }
    panic!("{body:?} never reached {:?}", c.user_id());
}

async fn public_room(c: &Client, name: &str) -> OwnedRoomId {
    let mut request = CreateRoomRequest::new();
    request.preset = Some(RoomPreset::PublicChat);
    request.name = Some(name.to_owned());
    let room = c.create_room(request).await.expect("create room");
    room.send(RoomMessageEventContent::text_plain(format!("hello {name}")))
        .await
        .expect("send");
    room.room_id().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn element_x_stack_lists_rooms_and_chats_across_organisations() {
    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let alice = element_x(&c.org(1).base_url, "alice").await;
    let bob = user(&c.org(2).base_url, "bob").await;
    bind(&alice, &bob).await;
    let a = public_room(&alice, "a").await;
    let b = public_room(&alice, "b").await;
    let c3 = public_room(&alice, "c").await;

    let sync = SyncService::builder(alice.clone())
        .build()
        .await
        .expect("sync service");
    sync.start().await;
    let rooms = sync.room_list_service();
    let all = rooms.all_rooms().await.expect("all_rooms");
    let (stream, controller) = all.entries_with_dynamic_adapters(50);
    controller.set_filter(Box::new(new_filter_non_left()));
    let mut stream = Box::pin(stream);
    let mut items = Vector::new();
    let expected = vec![c3.clone(), b.clone(), a.clone()];
    let order = list_until(
        &mut stream,
        &mut items,
        "c, b, a (most recent first)",
        |l| l.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>() == expected,
    )
    .await;
    assert_eq!(order.len(), 3);

    // Bob, on org2, speaks in the oldest room: it goes to the top.
    let bobs_room = loop {
        match bob.join_room_by_id(&a).await {
            Ok(room) => break room,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    bobs_room
        .send(RoomMessageEventContent::text_plain("hello from org2"))
        .await
        .expect("bob sends");
    let top = a.clone();
    list_until(&mut stream, &mut items, "room a on top", |l| {
        l.first().is_some_and(|(id, _)| *id == top)
    })
    .await;
    let timeline = alice
        .get_room(&a)
        .expect("room a")
        .timeline()
        .await
        .expect("timeline");
    timeline_shows(&timeline, "hello from org2").await;

    // Alice answers through the timeline; Bob's classic client gets it on org2.
    timeline
        .send(RoomMessageEventContent::text_plain("hello from org1").into())
        .await
        .expect("timeline send");
    classic_receives(&bob, &a, "hello from org1").await;

    // Back to the room's creation.
    let mut at_start = false;
    for _ in 0..20 {
        if timeline.paginate_backwards(20).await.expect("paginate") {
            at_start = true;
            break;
        }
    }
    assert!(at_start, "pagination reaches the start of the room");
    timeline_shows(&timeline, "hello a").await;

    // Bob's invite shows in Alice's list; she accepts it from there.
    let alice_id = UserId::parse("@alice:org1.localhost").expect("alice");
    let mut request = CreateRoomRequest::new();
    request.name = Some("from bob".to_owned());
    request.invite = vec![alice_id];
    request.preset = Some(RoomPreset::PrivateChat);
    let invited = bob
        .create_room(request)
        .await
        .expect("bob's room")
        .room_id()
        .to_owned();
    let wanted = invited.clone();
    list_until(&mut stream, &mut items, "bob's invite", |l| {
        l.iter()
            .any(|(id, s)| *id == wanted && *s == RoomState::Invited)
    })
    .await;
    let entry = items
        .iter()
        .find(|r| r.room_id() == invited)
        .expect("the invite in the list")
        .clone();
    entry.join().await.expect("alice accepts");
    list_until(&mut stream, &mut items, "bob's room joined", |l| {
        l.iter()
            .any(|(id, s)| *id == wanted && *s == RoomState::Joined)
    })
    .await;
    sync.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn element_x_stack_decrypts_an_encrypted_room_from_another_organisation() {
    let c = crate::e2ee::encrypted_consortium(2).await;
    let alice = element_x(&c.org(1).base_url, "alice").await;
    let bob = user(&c.org(2).base_url, "bob").await;
    bob.sync_once(SyncSettings::default())
        .await
        .expect("bob's first sync");
    bind(&alice, &bob).await;
    let sync = SyncService::builder(alice.clone())
        .build()
        .await
        .expect("sync service");
    sync.start().await;
    let alice_id = UserId::parse("@alice:org1.localhost").expect("alice");

    // Alice's device keys go out through the encryption sync and reach org2's ledger.
    let mut known = false;
    let http = reqwest::Client::new();
    for _ in 0..100 {
        let answer: serde_json::Value = http
            .post(format!(
                "{}/_matrix/client/v3/keys/query",
                c.org(2).base_url
            ))
            .bearer_auth(bob.access_token().expect("bob's token"))
            .json(&serde_json::json!({"device_keys": {alice_id.as_str(): []}}))
            .send()
            .await
            .expect("keys/query")
            .json()
            .await
            .expect("json");
        if answer["device_keys"][alice_id.as_str()]
            .as_object()
            .is_some_and(|d| !d.is_empty())
        {
            known = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(known, "Alice's device keys are on the ledger");

    // Bob's private room is encrypted by the server's default; Alice accepts from her list.
    let mut request = CreateRoomRequest::new();
    request.preset = Some(RoomPreset::PrivateChat);
    request.invite = vec![alice_id.clone()];
    let room = bob.create_room(request).await.expect("bob's room");
    let room_id = room.room_id().to_owned();
    let all = sync
        .room_list_service()
        .all_rooms()
        .await
        .expect("all_rooms");
    let (stream, controller) = all.entries_with_dynamic_adapters(50);
    controller.set_filter(Box::new(new_filter_non_left()));
    let mut stream = Box::pin(stream);
    let mut items = Vector::new();
    let wanted = room_id.clone();
    list_until(&mut stream, &mut items, "bob's invite", |l| {
        l.iter()
            .any(|(id, s)| *id == wanted && *s == RoomState::Invited)
    })
    .await;
    items
        .iter()
        .find(|r| r.room_id() == room_id)
        .expect("the invite")
        .clone()
        .join()
        .await
        .expect("alice joins");
    crate::e2ee::see_joined(&bob, &room_id, &alice_id).await;

    room.send(RoomMessageEventContent::text_plain("secret from org2"))
        .await
        .expect("bob sends");
    let timeline = alice
        .get_room(&room_id)
        .expect("alice's room")
        .timeline()
        .await
        .expect("timeline");
    timeline_shows(&timeline, "secret from org2").await;
    timeline
        .send(RoomMessageEventContent::text_plain("secret from org1").into())
        .await
        .expect("alice sends");
    crate::e2ee::receive_decrypted(&bob, &room_id, "secret from org1").await;
    sync.stop().await;
    c.shutdown().await;
}

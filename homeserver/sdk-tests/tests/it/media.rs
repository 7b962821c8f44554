//! Attachments with matrix-sdk across organisations: an image sent in a plain room on org1 is
//! downloaded by org2's client (whose node fetches it from org1's and checks it against its
//! CID); an attachment in an end-to-end encrypted room is encrypted by the client, stored as
//! that ciphertext, and decrypted by the other organisation's client; afterwards its
//! plaintext is in no file of any node.

use std::time::Duration;

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use matrix_sdk::attachment::AttachmentConfig;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::TimelineEventKind;
use matrix_sdk::media::{MediaFormat, MediaRequestParameters};
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk::ruma::api::client::room::create_room::v3::{
    Request as CreateRoomRequest, RoomPreset,
};
use matrix_sdk::ruma::events::room::MediaSource;
use matrix_sdk::ruma::events::room::message::MessageType;
use matrix_sdk::ruma::events::{AnySyncMessageLikeEvent, AnySyncTimelineEvent};
use matrix_sdk::{Client, Room};

use crate::e2ee::{assert_nowhere, encrypted_consortium, join_when_invited};
use crate::support::{bind, user};

/// Syncs `c` until `room` carries a message whose body is `body`; answers its content and
/// whether it arrived encrypted.
async fn receive_message(c: &Client, room: &OwnedRoomId, body: &str) -> (MessageType, bool) {
    let mut settings = SyncSettings::default().timeout(Duration::from_secs(5));
    for _ in 0..40 {
        let response = c.sync_once(settings.clone()).await.expect("sync");
        if let Some(joined) = response.rooms.joined.get(room) {
            for event in &joined.timeline.events {
                let Ok(AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(
                    message,
                ))) = event.raw().deserialize()
                else {
                    continue;
                };
                let Some(original) = message.as_original() else {
                    continue;
                };
                if original.content.body() == body {
                    let decrypted = matches!(event.kind, TimelineEventKind::Decrypted(_));
                    return (original.content.msgtype.clone(), decrypted);
                }
            }
        }
        settings = settings.token(response.next_batch);
    }
    panic!("{:?} never received {body:?}", c.user_id());
}

/// Alice on org1 and bob on org2, contacts, in a room alice created with `preset`.
async fn two_in_a_room(c: &Consortium, preset: RoomPreset) -> (Client, Client, Room) {
    let alice = user(&c.org(1).base_url, "alice").await;
    let bob = user(&c.org(2).base_url, "bob").await;
    for u in [&alice, &bob] {
        u.sync_once(SyncSettings::default())
            .await
            .expect("first sync");
    }
    bind(&alice, &bob).await;
    let mut request = CreateRoomRequest::new();
    request.preset = Some(preset);
    request.invite = vec![bob.user_id().expect("bob").to_owned()];
    let room = alice.create_room(request).await.expect("create");
    join_when_invited(&bob, &room.room_id().to_owned()).await;
    (alice, bob, room)
}

async fn download(c: &Client, source: MediaSource) -> Vec<u8> {
    let request = MediaRequestParameters {
        source,
        format: MediaFormat::File,
    };
    c.media()
        .get_media_content(&request, false)
        .await
        .expect("download")
}

/// Bytes behind a PNG signature: neither the client nor the server decodes an attachment
/// it only stores and forwards.
fn png(w: u32, h: u32) -> Vec<u8> {
    let mut data = b"\x89PNG\r\n\x1a\n".to_vec();
    data.extend((0..w * h).map(|i| (i % 251) as u8));
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_image_sent_on_one_organisation_is_downloaded_on_another() {
    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let (_alice, bob, room) = two_in_a_room(&c, RoomPreset::PublicChat).await;
    let room_id = room.room_id().to_owned();

    let image = png(300, 200);
    room.send_attachment(
        "cat.png",
        &mime::IMAGE_PNG,
        image.clone(),
        AttachmentConfig::new(),
    )
    .await
    .expect("alice sends an image");
    let (message, encrypted) = receive_message(&bob, &room_id, "cat.png").await;
    assert!(!encrypted, "a plain room");
    let MessageType::Image(content) = message else {
        panic!("not an image: {message:?}");
    };
    assert!(
        matches!(content.source, MediaSource::Plain(_)),
        "{:?}",
        content.source
    );
    assert!(
        download(&bob, content.source).await == image,
        "bob gets alice's bytes"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_encrypted_attachment_is_decrypted_on_another_organisation() {
    let c = encrypted_consortium(2).await;
    let (alice, bob, room) = two_in_a_room(&c, RoomPreset::PrivateChat).await;
    let room_id = room.room_id().to_owned();
    // Alice's client shares the room key once it sees bob joined.
    alice
        .sync_once(SyncSettings::default())
        .await
        .expect("sync");

    let marker = "attachment plaintext 7f3a9c";
    let file = format!("{marker}\n").repeat(2000).into_bytes();
    room.send_attachment(
        "notes.txt",
        &mime::TEXT_PLAIN,
        file.clone(),
        AttachmentConfig::new(),
    )
    .await
    .expect("alice sends a file");
    let (message, encrypted) = receive_message(&bob, &room_id, "notes.txt").await;
    assert!(
        encrypted,
        "the event arrived encrypted and bob decrypted it"
    );
    let MessageType::File(content) = message else {
        panic!("not a file: {message:?}");
    };
    assert!(
        matches!(content.source, MediaSource::Encrypted(_)),
        "the client encrypted the file: {:?}",
        content.source
    );
    assert!(
        download(&bob, content.source).await == file,
        "bob decrypts alice's file"
    );

    let mut c = c;
    for k in 1..=2 {
        c.kill(k).await;
    }
    let root = std::path::Path::new(&c.org(1).config.data_dir)
        .parent()
        .expect("the consortium's directory")
        .to_owned();
    let files = assert_nowhere(&root, marker.as_bytes());
    assert!(files > 5, "the nodes' files were read ({files})");
    c.shutdown().await;
}

//! End-to-end encryption across organisations with matrix-sdk's own crypto (vodozemac): every
//! key the clients publish goes through the ledger. Alice (org1) and Bob (org2) talk in a
//! room that is encrypted from its creation and decrypt each other; Carol (org3) joins later
//! and decrypts what follows; Bob's second device receives the room key; after Bob leaves he
//! cannot decrypt what is sent; afterwards no file of any node (databases, WAL, blocks) holds
//! a message's text. Cross-signing bootstrapped on one organisation is seen with the same keys
//! on the others, and a device it signs shows as cross-signed everywhere.

use std::time::Duration;

use consort_homeserver::config::{EncryptionDefault, RegistrationMode};
use consort_homeserver::testing::{Consortium, Db};
use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::TimelineEventKind;
use matrix_sdk::ruma::api::client::room::create_room::v3::{
    Request as CreateRoomRequest, RoomPreset,
};
use matrix_sdk::ruma::api::client::room::get_room_event;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, UserId};
use matrix_sdk::{Client, RoomState};

use crate::support::{account_only, bind, client, user};

/// A consortium of `n` organisations with the product's default: private rooms and direct
/// chats encrypted from their creation.
pub(crate) async fn encrypted_consortium(n: usize) -> Consortium {
    Consortium::start_with(n, Db::Sqlite, RegistrationMode::Open, |config| {
        config.encryption_default = EncryptionDefault::Invite;
    })
    .await
}

/// Syncs `c` until one of its syncs carries a decrypted message `body` in `room`; answers the
/// event's id. Panics when the message arrives but cannot be decrypted, or never arrives.
pub(crate) async fn receive_decrypted(c: &Client, room: &OwnedRoomId, body: &str) -> OwnedEventId {
    let mut settings = SyncSettings::default().timeout(Duration::from_secs(5));
    for _ in 0..40 {
        let response = c.sync_once(settings.clone()).await.expect("sync");
        if let Some(joined) = response.rooms.joined.get(room) {
            for event in &joined.timeline.events {
                let content = event
                    .raw()
                    .get_field::<serde_json::Value>("content")
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                if content["body"] == body {
                    assert!(
                        matches!(event.kind, TimelineEventKind::Decrypted(_)),
                        "{body:?} reached {:?} unencrypted",
                        c.user_id()
                    );
                    return event.event_id().expect("event id");
                }
            }
        }
        settings = settings.token(response.next_batch);
    }
    panic!("{:?} never decrypted {body:?}", c.user_id());
}

/// Syncs `c` until it is invited to `room`, then joins.
pub(crate) async fn join_when_invited(c: &Client, room: &OwnedRoomId) {
    for _ in 0..40 {
        c.sync_once(SyncSettings::default().timeout(Duration::from_secs(2)))
            .await
            .expect("sync");
        if c.get_room(room)
            .is_some_and(|r| r.state() == RoomState::Invited)
        {
            c.join_room_by_id(room).await.expect("join");
            c.sync_once(SyncSettings::default()).await.expect("sync");
            return;
        }
    }
    panic!("{:?} never saw the invite to {room}", c.user_id());
}

/// Syncs `c` until `user` is a joined member of `room` in its view.
pub(crate) async fn see_joined(c: &Client, room: &OwnedRoomId, user: &UserId) {
    let mut settings = SyncSettings::default().timeout(Duration::from_secs(2));
    for _ in 0..40 {
        let response = c.sync_once(settings.clone()).await.expect("sync");
        settings = settings.token(response.next_batch);
        let room = c.get_room(room).expect("room");
        if room
            .get_member_no_sync(user)
            .await
            .expect("member")
            .is_some_and(|m| {
                *m.membership() == matrix_sdk::ruma::events::room::member::MembershipState::Join
            })
        {
            return;
        }
    }
    panic!("{:?} never saw {user} join", c.user_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sdk_users_of_three_organisations_talk_end_to_end_encrypted() {
    let c = encrypted_consortium(3).await;
    let alice = user(&c.org(1).base_url, "alice").await;
    let bob = user(&c.org(2).base_url, "bob").await;
    let carol = user(&c.org(3).base_url, "carol").await;
    for u in [&alice, &bob, &carol] {
        u.sync_once(SyncSettings::default())
            .await
            .expect("first sync");
    }
    let bob_id = bob.user_id().expect("bob").to_owned();
    let carol_id = carol.user_id().expect("carol").to_owned();
    // The default policy (`cross_org`): only contacts invite users of another organisation.
    bind(&alice, &bob).await;
    bind(&alice, &carol).await;

    // A private room: encrypted from its creation, by the server's default.
    let mut request = CreateRoomRequest::new();
    request.preset = Some(RoomPreset::PrivateChat);
    request.invite = vec![bob_id.clone()];
    let room = alice.create_room(request).await.expect("create");
    let room_id = room.room_id().to_owned();
    assert!(
        room.latest_encryption_state()
            .await
            .expect("encryption state")
            .is_encrypted(),
        "the room is encrypted by default"
    );
    join_when_invited(&bob, &room_id).await;
    see_joined(&alice, &room_id, &bob_id).await;

    room.send(RoomMessageEventContent::text_plain("secret from org1"))
        .await
        .expect("alice sends");
    receive_decrypted(&bob, &room_id, "secret from org1").await;
    let bobs_room = bob.get_room(&room_id).expect("bob's room");
    bobs_room
        .send(RoomMessageEventContent::text_plain("secret from org2"))
        .await
        .expect("bob sends");
    receive_decrypted(&alice, &room_id, "secret from org2").await;

    // Carol of org3 joins later and decrypts what is sent after.
    room.invite_user_by_id(&carol_id)
        .await
        .expect("invite carol");
    join_when_invited(&carol, &room_id).await;
    see_joined(&alice, &room_id, &carol_id).await;
    room.send(RoomMessageEventContent::text_plain("welcome carol"))
        .await
        .expect("alice sends");
    receive_decrypted(&carol, &room_id, "welcome carol").await;

    // Bob's second device (a new login) gets the room key of what follows.
    let bob2 = client(&c.org(2).base_url).await;
    bob2.matrix_auth()
        .login_username("bob", "bob-password-1")
        .send()
        .await
        .expect("bob logs in again");
    bob2.sync_once(SyncSettings::default()).await.expect("sync");
    // Alice learns of the new device through device_lists.changed on her own node.
    let bob2_device = bob2.device_id().expect("device").to_owned();
    let mut found = false;
    for _ in 0..40 {
        alice
            .sync_once(SyncSettings::default().timeout(Duration::from_secs(1)))
            .await
            .expect("sync");
        if alice
            .encryption()
            .get_device(&bob_id, &bob2_device)
            .await
            .expect("device")
            .is_some()
        {
            found = true;
            break;
        }
    }
    assert!(found, "alice's client learned bob's second device");
    room.send(RoomMessageEventContent::text_plain(
        "for both of bob's devices",
    ))
    .await
    .expect("alice sends");
    receive_decrypted(&bob2, &room_id, "for both of bob's devices").await;

    // Bob leaves: what is sent afterwards is not for him.
    bobs_room.leave().await.expect("bob leaves");
    for _ in 0..40 {
        alice
            .sync_once(SyncSettings::default().timeout(Duration::from_secs(1)))
            .await
            .expect("sync");
        let m = room.get_member_no_sync(&bob_id).await.expect("member");
        if m.is_some_and(|m| {
            *m.membership() != matrix_sdk::ruma::events::room::member::MembershipState::Join
        }) {
            break;
        }
    }
    let after = room
        .send(RoomMessageEventContent::text_plain("after bob left"))
        .await
        .expect("alice sends")
        .response
        .event_id;
    let carol_sees = receive_decrypted(&carol, &room_id, "after bob left").await;
    assert_eq!(carol_sees, after);
    // The ciphertext as the ledger carries it, handed to Bob's client to try.
    let served = alice
        .send(get_room_event::v3::Request::new(
            room_id.clone(),
            after.clone(),
        ))
        .await
        .expect("the event as alice's node serves it");
    let ciphertext = served.event.json().get().to_owned();
    assert!(
        !ciphertext.contains("after bob left"),
        "the ledger holds plaintext"
    );
    let raw = Raw::from_json(served.event.into_json());
    let bob_left_room = bob.get_room(&room_id).expect("bob's left room");
    let attempt = bob_left_room.decrypt_event(&raw, None).await;
    let decrypted = attempt
        .as_ref()
        .is_ok_and(|e| matches!(e.kind, TimelineEventKind::Decrypted(_)));
    assert!(!decrypted, "bob decrypted a message sent after he left");

    // No plaintext anywhere: with every node stopped, no file of any node holds a message.
    let mut c = c;
    for k in 1..=3 {
        c.kill(k).await;
    }
    let root = std::path::Path::new(&c.org(1).config.data_dir)
        .parent()
        .expect("the consortium's directory")
        .to_owned();
    let mut files = 0;
    for marker in [
        "secret from org1",
        "secret from org2",
        "welcome carol",
        "after bob left",
    ] {
        files = assert_nowhere(&root, marker.as_bytes());
    }
    assert!(files > 5, "the nodes' files were read ({files})");
    c.shutdown().await;
}

/// Reads every file under `dir`; panics if one holds `marker`. Answers how many were read.
pub(crate) fn assert_nowhere(dir: &std::path::Path, marker: &[u8]) -> usize {
    let mut read = 0;
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            read += assert_nowhere(&path, marker);
            continue;
        }
        let bytes = std::fs::read(&path).expect("read file");
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "{} holds the plaintext {:?}",
            path.display(),
            String::from_utf8_lossy(marker)
        );
        read += 1;
    }
    read
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cross_signing_is_the_same_on_every_organisation() {
    let c = encrypted_consortium(3).await;
    let alice = user(&c.org(1).base_url, "alice").await;
    let bob = user(&c.org(2).base_url, "bob").await;
    let carol = user(&c.org(3).base_url, "carol").await;
    for u in [&alice, &bob, &carol] {
        u.sync_once(SyncSettings::default())
            .await
            .expect("first sync");
    }
    alice
        .encryption()
        .bootstrap_cross_signing(None)
        .await
        .expect("alice bootstraps cross-signing");
    let alice_id = alice.user_id().expect("alice").to_owned();
    let alice_device = alice.device_id().expect("device").to_owned();
    let own = alice
        .encryption()
        .get_user_identity(&alice_id)
        .await
        .expect("identity")
        .expect("alice's own identity");
    let master = own
        .master_key()
        .get_first_key()
        .expect("master key")
        .to_base64();

    for other in [&bob, &carol] {
        // Each node applies the bootstrap's blocks on its own: ask until this one has.
        let mut signed = false;
        for _ in 0..50 {
            other
                .encryption()
                .request_user_identity(&alice_id)
                .await
                .expect("query");
            let device = other
                .encryption()
                .get_device(&alice_id, &alice_device)
                .await
                .expect("device");
            if device.is_some_and(|d| d.is_cross_signed_by_owner()) {
                signed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            signed,
            "{:?} sees alice's device cross-signed",
            other.user_id()
        );
        let seen = other
            .encryption()
            .request_user_identity(&alice_id)
            .await
            .expect("query")
            .expect("alice's identity is on the ledger");
        assert_eq!(
            seen.master_key().get_first_key().expect("key").to_base64(),
            master,
            "the same master key on every organisation"
        );
        let device = other
            .encryption()
            .get_device(&alice_id, &alice_device)
            .await
            .expect("device")
            .expect("alice's device");
        assert!(
            device.is_cross_signed_by_owner(),
            "alice's device is signed by her self-signing key, as seen from {:?}",
            other.user_id()
        );
    }

    // Bob verifies Alice (his user-signing key signs her master key): her device is
    // verified for him.
    bob.encryption()
        .bootstrap_cross_signing(None)
        .await
        .expect("bob bootstraps cross-signing");
    let seen = bob
        .encryption()
        .request_user_identity(&alice_id)
        .await
        .expect("query")
        .expect("identity");
    seen.verify().await.expect("bob verifies alice");
    // Bob's client reads his signature back from the ledger.
    let again = bob
        .encryption()
        .request_user_identity(&alice_id)
        .await
        .expect("query")
        .expect("identity");
    assert!(
        again.is_verified(),
        "bob's signature of alice's master key is on the ledger"
    );
    let device = bob
        .encryption()
        .get_device(&alice_id, &alice_device)
        .await
        .expect("device")
        .expect("alice's device");
    assert!(device.is_verified(), "alice's device is verified for bob");
    c.shutdown().await;
}

/// Element Web's crypto stack (matrix-js-sdk 43 with its Rust crypto, in Node:
/// `homeserver/js-sdk-tests/`) on org1 and a matrix-sdk user on org2, in a room encrypted at
/// creation: each decrypts the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn element_webs_crypto_stack_and_matrix_sdk_decrypt_each_other() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../js-sdk-tests");
    let setup = std::process::Command::new("bash")
        .arg(dir.join("setup.sh"))
        .status()
        .expect("run js-sdk-tests/setup.sh");
    assert!(setup.success(), "js-sdk-tests/setup.sh failed");

    let c = encrypted_consortium(2).await;
    // Jane's account only: her device is the one matrix-js-sdk logs in.
    let jane_id = account_only(&c.org(1).base_url, "jane").await;
    let bob = user(&c.org(2).base_url, "bob").await;
    bob.sync_once(SyncSettings::default()).await.expect("sync");
    // A direct chat: under the default policy it is bob's contact request to jane, and her
    // joining it binds them.
    let room = bob
        .create_dm(&jane_id)
        .await
        .expect("create the direct chat");
    let room_id = room.room_id().to_owned();

    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "base_url": c.org(1).base_url,
            "user": "jane",
            "password": "jane-password-1",
            "room_id": room_id,
            "expect": "hello jane, from matrix-sdk on org2",
            "reply": "hello bob, from matrix-js-sdk on org1",
        })
        .to_string(),
    )
    .expect("config");
    let script = tokio::process::Command::new("node")
        .arg(dir.join("e2ee-chat.mjs"))
        .arg(&config)
        .kill_on_drop(true)
        .output();
    let chat = tokio::spawn(async move {
        see_joined(&bob, &room_id, &jane_id).await;
        room.send(RoomMessageEventContent::text_plain(
            "hello jane, from matrix-sdk on org2",
        ))
        .await
        .expect("bob sends");
        receive_decrypted(&bob, &room_id, "hello bob, from matrix-js-sdk on org1").await;
    });
    let (output, chat) = tokio::join!(script, chat);
    let output = output.expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        chat.is_ok() && output.status.success() && stdout.contains("PASS"),
        "matrix-sdk side: {chat:?}; matrix-js-sdk side ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    c.shutdown().await;
}

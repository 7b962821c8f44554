//! Contacts through Matrix itself, with matrix-sdk: a direct chat the client creates for a
//! user of another organisation is a contact request; the invitee joining binds them, and the
//! relationship reaches the client's `/sync` as the `org.consort.contacts` account data event;
//! ignoring the user unbinds, after which a group invite is refused again.

use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::UserId;
use matrix_sdk::ruma::api::client::room::create_room::v3::Request as CreateRoomRequest;
use matrix_sdk::ruma::events::GlobalAccountDataEventType;

use crate::e2ee::join_when_invited;
use crate::support::{errcode, raw_get, user};

const API: &str = "_matrix/client/unstable/org.consort.contacts";

/// `who`'s relationship with `other` as `who`'s own node answers it: `contact`, `incoming`,
/// `outgoing` or `none`.
async fn relationship(who: &Client, other: &UserId) -> &'static str {
    let token = who.access_token().expect("logged in");
    let (_, contacts) = raw_get(&format!("{}{API}/contacts", who.homeserver()), &token).await;
    let (_, requests) = raw_get(&format!("{}{API}/requests", who.homeserver()), &token).await;
    let has = |list: &serde_json::Value| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|c| c["user_id"] == other.as_str()))
    };
    if has(&contacts["contacts"]) {
        "contact"
    } else if has(&requests["incoming"]) {
        "incoming"
    } else if has(&requests["outgoing"]) {
        "outgoing"
    } else {
        "none"
    }
}

async fn wait_for(who: &Client, other: &UserId, want: &str) {
    let mut got = "";
    for _ in 0..100 {
        got = relationship(who, other).await;
        if got == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{:?} -> {other}: {got}, not {want}", who.user_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_direct_chat_is_a_contact_request_and_ignoring_unbinds() {
    let c = consort_homeserver::testing::Consortium::start(
        2,
        consort_homeserver::testing::Db::Sqlite,
        consort_homeserver::config::RegistrationMode::Open,
    )
    .await;
    let alice = user(&c.org(1).base_url, "alice").await;
    let bob = user(&c.org(2).base_url, "bob").await;
    let (alice_id, bob_id) = (
        alice.user_id().expect("alice").to_owned(),
        bob.user_id().expect("bob").to_owned(),
    );
    alice
        .sync_once(SyncSettings::default())
        .await
        .expect("sync");

    // A group room invite across organisations needs a contact first.
    let mut request = CreateRoomRequest::new();
    request.invite = vec![bob_id.clone()];
    let refused = alice
        .create_room(request)
        .await
        .expect_err("no group invite without a contact");
    assert_eq!(
        errcode(&refused),
        Some((403, "M_FORBIDDEN".to_owned())),
        "{refused:?}"
    );

    // The client's direct chat is the request; bob joining binds them.
    let dm = alice.create_dm(&bob_id).await.expect("direct chat");
    let dm_id = dm.room_id().to_owned();
    wait_for(&bob, &alice_id, "incoming").await;
    assert_eq!(relationship(&alice, &bob_id).await, "outgoing");
    join_when_invited(&bob, &dm_id).await;
    wait_for(&alice, &bob_id, "contact").await;
    wait_for(&bob, &alice_id, "contact").await;

    // Alice's client has the relationship from /sync, as account data.
    let mut seen = None;
    for _ in 0..20 {
        alice
            .sync_once(SyncSettings::default().timeout(Duration::from_secs(1)))
            .await
            .expect("sync");
        seen = alice
            .account()
            .account_data_raw(GlobalAccountDataEventType::from("org.consort.contacts"))
            .await
            .expect("account data");
        if seen
            .as_ref()
            .and_then(|raw| {
                raw.get_field::<serde_json::Value>("contacts")
                    .ok()
                    .flatten()
            })
            .is_some_and(|l| l.to_string().contains(bob_id.as_str()))
        {
            break;
        }
        seen = None;
    }
    assert!(seen.is_some(), "alice's sync carries bob as a contact");

    // Now a group invite goes through.
    let mut request = CreateRoomRequest::new();
    request.invite = vec![bob_id.clone()];
    alice
        .create_room(request)
        .await
        .expect("contacts invite each other");

    // Ignoring bob unbinds: gone on both nodes, and the next group invite is refused.
    alice.account().ignore_user(&bob_id).await.expect("ignore");
    wait_for(&alice, &bob_id, "none").await;
    wait_for(&bob, &alice_id, "none").await;
    let mut request = CreateRoomRequest::new();
    request.invite = vec![bob_id.clone()];
    let refused = alice
        .create_room(request)
        .await
        .expect_err("no group invite once unbound");
    assert_eq!(errcode(&refused), Some((403, "M_FORBIDDEN".to_owned())));
    c.shutdown().await;
}

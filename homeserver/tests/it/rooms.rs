//! Rooms across a real 4-organisation consortium: one room with members on three
//! organisations, the same timeline in the same order on every node, power levels, bans and
//! redactions taking effect identically everywhere, and an organisation outside the room
//! seeing nothing of it.

use consort_bridge::position::height_of;
use consort_bridge::rooms::event::{NewEvent, build_pdu};
use consort_bridge::rooms::store::room_state_with;
use consort_bridge::{Record, RoomEvent};
use consort_homeserver::LedgerError;
use consort_homeserver::config::{EncryptionDefault, RegistrationMode};
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use ruma::OwnedUserId;
use ruma::events::StateEventType;
use serde_json::{Value, json};
use sqlx::Row;

use crate::client::{bodies, enc, ids, register};

/// The projection's events of a room on one node: (event id, position), in ledger order.
async fn projection(c: &Consortium, k: usize, room: &str) -> Vec<(String, i64)> {
    let pool = &c.org(k).node.state.db.pool;
    sqlx::query("SELECT event_id, pos FROM bridge_room_events WHERE room_id = $1 ORDER BY pos")
        .bind(room)
        .fetch_all(pool)
        .await
        .expect("projection")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Every record outcome of every node up to the lowest applied height: they must agree.
async fn outcomes(c: &Consortium) -> Vec<Vec<(i64, i64, i64, Option<String>)>> {
    let mut heights = Vec::new();
    for org in &c.orgs {
        let h: i64 = sqlx::query("SELECT applied_height FROM bridge_state WHERE id = 1")
            .fetch_one(&org.node.state.db.pool)
            .await
            .expect("height")
            .get(0);
        heights.push(h);
    }
    let upto = *heights.iter().min().expect("nodes");
    let mut all = Vec::new();
    for org in &c.orgs {
        let rows = sqlx::query(
            "SELECT height, idx, accepted, reason FROM bridge_outcomes WHERE height <= $1 \
             ORDER BY height, idx",
        )
        .bind(upto)
        .fetch_all(&org.node.state.db.pool)
        .await
        .expect("outcomes");
        all.push(
            rows.iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect(),
        );
    }
    all
}

/// Waits until every node has applied (and serves) the block that holds `event_id`.
pub async fn everywhere(c: &Consortium, event_id: &str) {
    for _ in 0..200 {
        let mut seen = 0;
        for org in &c.orgs {
            let pos: Option<i64> =
                sqlx::query("SELECT pos FROM bridge_room_events WHERE event_id = $1")
                    .bind(event_id)
                    .fetch_optional(&org.node.state.db.pool)
                    .await
                    .expect("lookup")
                    .map(|r| r.get(0));
            let applied = org
                .node
                .state
                .chain
                .as_ref()
                .expect("chain")
                .applied_height();
            seen += usize::from(pos.is_some_and(|p| height_of(p) <= applied));
        }
        if seen == c.orgs.len() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{event_id} did not reach every node");
}

#[track_caller]
fn forbidden(answer: &(StatusCode, Value)) {
    assert_eq!(answer.0, StatusCode::FORBIDDEN, "{}", answer.1);
    assert_eq!(answer.1["errcode"], "M_FORBIDDEN", "{}", answer.1);
}

async fn room_across_organisations(db: Db) {
    let c = Consortium::start(4, db, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(3).base_url, "carol").await;
    let dave = register(&c.org(4).base_url, "dave").await;

    alice.bind(&bob).await;
    alice.bind(&carol).await;
    let room = alice
        .create_room(json!({
            "name": "Consortium room",
            "topic": "shared over the ledger",
            "invite": [bob.user_id, carol.user_id],
        }))
        .await;

    // Bob sees the invite through his own organisation's node.
    let invited = bob
        .sync_until(None, 5, |v| !v["rooms"]["invite"][&room].is_null())
        .await;
    let invite_state = invited["rooms"]["invite"][&room]["invite_state"]["events"]
        .as_array()
        .expect("invite state");
    assert!(
        invite_state
            .iter()
            .any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Consortium room"),
        "{invited}"
    );
    bob.accept_invite(&room).await;
    carol.accept_invite(&room).await;

    let mut sent = Vec::new();
    for (user, text) in [
        (&alice, "hello from org1"),
        (&bob, "hello from org2"),
        (&carol, "hello from org3"),
        (&alice, "second from org1"),
        (&bob, "second from org2"),
        (&carol, "second from org3"),
    ] {
        sent.push(user.send(&room, text).await);
    }
    everywhere(&c, sent.last().expect("sent")).await;
    // Dave (not invited) cannot join the invite-only room through his node.
    forbidden(&dave.join(&room).await);

    // The same timeline, in the same order, through every member's own node.
    let timelines = [
        alice.all_messages(&room).await,
        bob.all_messages(&room).await,
        carol.all_messages(&room).await,
    ];
    assert_eq!(ids(&timelines[0]), ids(&timelines[1]));
    assert_eq!(ids(&timelines[0]), ids(&timelines[2]));
    assert_eq!(
        bodies(&timelines[1]),
        [
            "hello from org1",
            "hello from org2",
            "hello from org3",
            "second from org1",
            "second from org2",
            "second from org3"
        ]
    );
    // ... and the same projection on all four nodes, Dave's included.
    let reference = projection(&c, 1, &room).await;
    for k in 2..=4 {
        assert_eq!(projection(&c, k, &room).await, reference, "org{k}");
    }

    // /sync agrees with /messages: Bob's initial sync ends with the same events.
    let synced = bob.sync(None, 0).await;
    let timeline = synced["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .expect("timeline")
        .clone();
    let all = ids(&timelines[1]);
    assert_eq!(ids(&timeline), all[all.len() - timeline.len()..]);

    // Power levels: Bob (0) may not rename the room until Alice gives him 50.
    let rename = json!({"name": "Bob's room"});
    forbidden(
        &bob.put_state(&room, "m.room.name", "", rename.clone())
            .await,
    );
    let mut levels = alice
        .ok(
            Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.power_levels/",
                enc(&room)
            ),
            None,
        )
        .await;
    levels["users"][&bob.user_id] = json!(50);
    let (status, body) = alice
        .put_state(&room, "m.room.power_levels", "", levels)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Org 1 answered once it applied the change; Bob acts through org 2, which applies the
    // same block on its own.
    everywhere(&c, body["event_id"].as_str().expect("event id")).await;
    let (status, body) = bob.put_state(&room, "m.room.name", "", rename).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let name_event = body["event_id"].as_str().expect("event id").to_owned();
    everywhere(&c, &name_event).await;
    let name = carol
        .ok(
            Method::GET,
            &format!("/_matrix/client/v3/rooms/{}/state/m.room.name/", enc(&room)),
            None,
        )
        .await;
    assert_eq!(name["name"], "Bob's room");

    // Redactions: Carol (0) may not redact Alice's message; Bob redacts his own, and every
    // node serves it redacted.
    let path = |event: &str| {
        format!(
            "/_matrix/client/v3/rooms/{}/redact/{}/r{}",
            enc(&room),
            enc(event),
            rand::random::<u32>()
        )
    };
    forbidden(
        &carol
            .call(Method::PUT, &path(&sent[0]), Some(json!({})))
            .await,
    );
    let (status, body) = bob
        .call(
            Method::PUT,
            &path(&sent[1]),
            Some(json!({"reason": "typo"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    everywhere(&c, body["event_id"].as_str().expect("redaction id")).await;
    for user in [&alice, &bob, &carol] {
        let event = user
            .ok(
                Method::GET,
                &format!(
                    "/_matrix/client/v3/rooms/{}/event/{}",
                    enc(&room),
                    enc(&sent[1])
                ),
                None,
            )
            .await;
        assert_eq!(event["content"], json!({}), "{}: {event}", user.user_id);
        assert_eq!(
            event["unsigned"]["redacted_because"]["content"]["reason"],
            "typo"
        );
    }

    // Bans: Alice bans Carol; Carol can no longer send, and sees nothing after her ban.
    let (status, body) = alice
        .room_action(
            &room,
            "ban",
            json!({"user_id": carol.user_id, "reason": "test"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    forbidden(&carol.send_txn(&room, "after-ban", "let me in").await);
    let after = alice.send(&room, "after the ban").await;
    everywhere(&c, &after).await;
    let carols = carol.all_messages(&room).await;
    assert!(
        !ids(&carols).contains(&after),
        "banned user sees later events"
    );
    assert_eq!(
        carols.last().expect("events")["content"]["membership"],
        "ban",
        "the ban is the last event Carol sees"
    );
    forbidden(&carol.join(&room).await);

    // An organisation outside the room sees nothing of it, through any endpoint.
    let r = enc(&room);
    for path in [
        format!("/_matrix/client/v3/rooms/{r}/messages?dir=b"),
        format!("/_matrix/client/v3/rooms/{r}/state"),
        format!("/_matrix/client/v3/rooms/{r}/state/m.room.name/"),
        format!("/_matrix/client/v3/rooms/{r}/members"),
        format!("/_matrix/client/v3/rooms/{r}/joined_members"),
        format!("/_matrix/client/v3/rooms/{r}/event/{}", enc(&sent[0])),
        format!("/_matrix/client/v3/rooms/{r}/context/{}", enc(&sent[0])),
    ] {
        forbidden(&dave.call(Method::GET, &path, None).await);
    }
    let dave_sync = dave.sync(None, 0).await;
    assert!(
        dave_sync["rooms"]["join"].get(&room).is_none()
            && dave_sync["rooms"]["invite"].get(&room).is_none()
            && dave_sync["rooms"]["leave"].get(&room).is_none(),
        "{dave_sync}"
    );
    // An event that breaks the auth rules, signed by org 4 and put on the ledger directly
    // (past org 4's own check): every node refuses it, for the same reason.
    let chain = c.org(4).node.state.chain.clone().expect("chain");
    let keys = [
        (StateEventType::RoomCreate, String::new()),
        (StateEventType::RoomPowerLevels, String::new()),
        (StateEventType::RoomMember, dave.user_id.clone()),
    ];
    let state = room_state_with(chain.pool(), &room, &keys)
        .await
        .expect("room state")
        .expect("room known on org4");
    let intruder = build_pdu(
        chain.node_key(),
        "org4.localhost",
        &state,
        NewEvent {
            sender: OwnedUserId::try_from(dave.user_id.as_str()).expect("user id"),
            kind: "m.room.message".into(),
            state_key: None,
            content: json!({"msgtype": "m.text", "body": "let me in"}),
            origin_server_ts: 1,
        },
    )
    .expect("pdu");
    let refused = chain
        .submit_record(&Record::RoomEvent(RoomEvent {
            pdu: intruder.json.clone(),
        }))
        .await
        .expect_err("refused");
    let LedgerError::Rejected(reason) = refused else {
        panic!("expected a rejection, got {refused:?}");
    };
    let mut reasons = Vec::new();
    for org in &c.orgs {
        loop {
            let row = sqlx::query(
                "SELECT o.code FROM bridge_outcomes o WHERE o.accepted = 0 AND o.reason = $1",
            )
            .bind(reason.message())
            .fetch_optional(&org.node.state.db.pool)
            .await
            .expect("outcome");
            if let Some(r) = row {
                reasons.push(r.get::<String, _>(0));
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    // Every node stored the same typed rejection: the auth rules refused the intruder.
    assert_eq!(reasons, vec!["forbidden"; 4]);
    assert_eq!(reason.kind(), consort_bridge::RejectionKind::Forbidden);
    assert!(
        reason.message().contains("membership") || reason.message().contains("not in room"),
        "{reason}"
    );
    assert!(
        projection(&c, 1, &room)
            .await
            .iter()
            .all(|(id, _)| id != intruder.event_id.as_str()),
        "the refused event is nowhere"
    );

    // Every node took every record the same way.
    let all = outcomes(&c).await;
    for (k, node) in all.iter().enumerate().skip(1) {
        assert_eq!(node, &all[0], "org{} outcomes differ", k + 1);
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn room_across_organisations_sqlite() {
    room_across_organisations(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn room_across_organisations_postgres() {
    room_across_organisations(Db::Postgres).await;
}

/// Incremental `/sync` delivers a message sent on another organisation, and a retried
/// transaction answers the same event without sending twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn incremental_sync_and_idempotent_send() {
    let c = Consortium::start(4, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let room = alice
        .create_room(json!({"preset": "public_chat", "room_alias_name": "lobby"}))
        .await;
    // Bob joins by alias through his own node, once it resolves there.
    bob.wait_for_alias("#lobby:org1.localhost").await;
    let (status, body) = bob.join("#lobby:org1.localhost").await;
    assert_eq!(
        (status, body["room_id"].as_str()),
        (StatusCode::OK, Some(room.as_str()))
    );
    let first = bob.sync(None, 0).await;
    let since = first["next_batch"].as_str().expect("next_batch").to_owned();

    let waiter = {
        let bob = bob.clone();
        let since = since.clone();
        let room = room.clone();
        tokio::spawn(async move {
            bob.sync_until(Some(&since), 10, |v| {
                bodies(
                    v["rooms"]["join"][&room]["timeline"]["events"]
                        .as_array()
                        .map_or(&[][..], |a| a.as_slice()),
                )
                .contains(&"ping".to_owned())
            })
            .await
        })
    };
    let (status, a) = alice.send_txn(&room, "txn-1", "ping").await;
    assert_eq!(status, StatusCode::OK, "{a}");
    let (status, b) = alice.send_txn(&room, "txn-1", "ping").await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        a["event_id"], b["event_id"],
        "a retried txn answers the same event"
    );
    let got = waiter.await.expect("sync task");
    let events = got["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .expect("events");
    let ping = events
        .iter()
        .find(|e| e["content"]["body"] == "ping")
        .expect("ping");
    assert_eq!(ping["event_id"], a["event_id"]);
    assert_eq!(ping["sender"], alice.user_id);
    // The sender's own device sees its transaction id; the other org's user does not.
    assert!(ping["unsigned"].get("transaction_id").is_none());
    let own = alice.all_messages(&room).await;
    let own_ping = own
        .iter()
        .find(|e| e["event_id"] == a["event_id"])
        .expect("own ping");
    assert_eq!(own_ping["unsigned"]["transaction_id"], "txn-1");
    let pings = bodies(&own).iter().filter(|b| *b == "ping").count();
    assert_eq!(pings, 1, "the retried transaction was not sent twice");
    c.shutdown().await;
}

/// The same message sent at once under different transaction ids (a client's concurrent
/// sends, or two devices) is that many events: built against the same room state in the
/// same millisecond they would otherwise be the same bytes, so the same event id.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_concurrent_sends_are_distinct_events() {
    let c = Consortium::start(1, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    let sends: Vec<_> = (0..8)
        .map(|i| {
            let alice = alice.clone();
            let room = room.clone();
            tokio::spawn(async move { alice.send_txn(&room, &format!("same-{i}"), "same").await })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for send in sends {
        let (status, v) = send.await.expect("send task");
        assert_eq!(status, StatusCode::OK, "{v}");
        ids.insert(v["event_id"].as_str().expect("event_id").to_owned());
    }
    assert_eq!(ids.len(), 8, "{ids:?}");
    let messages = alice.all_messages(&room).await;
    assert_eq!(bodies(&messages).iter().filter(|b| *b == "same").count(), 8);
    c.shutdown().await;
}

/// Rooms of every supported version work across organisations; `encryption_default = all`
/// puts Megolm encryption into a new room's initial state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn room_versions_and_encrypted_rooms() {
    let c = Consortium::start_with(2, Db::Sqlite, RegistrationMode::Open, |config| {
        config.encryption_default = EncryptionDefault::All;
    })
    .await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    alice.bind(&bob).await;
    for version in ["10", "11", "12"] {
        let room = alice
            .create_room(json!({"room_version": version, "invite": [bob.user_id]}))
            .await;
        if version == "12" {
            assert!(
                !room.contains(':'),
                "v12 room ids are the create event's hash: {room}"
            );
        } else {
            assert!(room.ends_with(":org1.localhost"), "{room}");
        }
        bob.accept_invite(&room).await;
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.create/",
            enc(&room)
        );
        let create = bob.ok(Method::GET, &path, None).await;
        assert_eq!(create["room_version"], version);
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.encryption/",
            enc(&room)
        );
        let encryption = bob.ok(Method::GET, &path, None).await;
        assert_eq!(encryption["algorithm"], "m.megolm.v1.aes-sha2");
        // Clients encrypt; the ledger carries whatever event type and content they send.
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.encrypted/v{version}",
            enc(&room)
        );
        let ciphertext = json!({
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": "AwgAEnACgAkLmt6qF84IK++J7UDH2Za1YVchHyprqTqsg",
            "device_id": "DEVICE",
            "sender_key": "IlRMeOPX2e0MurIyfWEucYBRVOEEUMrOHqn/8mLqMjA",
            "session_id": "X3lUlvLELLYxeTx4yOVu6UDpasGEVO0Jbu+QFnm0cKQ",
        });
        let (status, body) = bob.call(Method::PUT, &path, Some(ciphertext.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        everywhere(&c, body["event_id"].as_str().expect("event id")).await;
        let timeline = alice.all_messages(&room).await;
        let last = timeline.last().expect("events");
        assert_eq!(last["type"], "m.room.encrypted");
        assert_eq!(last["content"], ciphertext);
    }
    c.shutdown().await;
}

/// A node killed while messages are being committed and applied: the other three go on, every
/// acknowledged message is kept, and the node, restarted, catches up to the same timeline and
/// the same record outcomes as the others.
async fn killed_node_catches_up(db: Db) {
    let mut c = Consortium::start(4, db, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    alice.bind(&bob).await;
    let room = alice.create_room(json!({"invite": [bob.user_id]})).await;
    bob.accept_invite(&room).await;

    let (first_sent, first_rx) = tokio::sync::oneshot::channel::<()>();
    let sender = {
        let alice = alice.clone();
        let room = room.clone();
        tokio::spawn(async move {
            let mut sent = vec![alice.send(&room, "message 0").await];
            let _ = first_sent.send(());
            for i in 1..30 {
                sent.push(alice.send(&room, &format!("message {i}")).await);
            }
            sent
        })
    };
    first_rx.await.expect("first message");
    c.kill(4).await;
    let sent = sender.await.expect("sender");
    c.restart(4).await;
    everywhere(&c, sent.last().expect("sent")).await;

    let seen = ids(&bob.all_messages(&room).await);
    for id in &sent {
        assert!(seen.contains(id), "acknowledged {id} is kept");
    }
    let reference = projection(&c, 1, &room).await;
    for k in 2..=4 {
        assert_eq!(projection(&c, k, &room).await, reference, "org{k}");
    }
    let all = outcomes(&c).await;
    for (k, node) in all.iter().enumerate().skip(1) {
        assert_eq!(node, &all[0], "org{} outcomes differ", k + 1);
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_node_catches_up_sqlite() {
    killed_node_catches_up(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_node_catches_up_postgres() {
    killed_node_catches_up(Db::Postgres).await;
}

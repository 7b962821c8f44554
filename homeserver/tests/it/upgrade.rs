//! `POST /rooms/{roomId}/upgrade` across two organisations: Alice on org1 upgrades a public
//! v11 room to v12; Bob on org2 sees the tombstone, the old room closed to ordinary members,
//! and a new room that names its predecessor and carries the name, topic, join rule, power
//! levels (without the v12 creator), bans and alias over, which he joins and speaks in.
//! Refused: a member without the power to tombstone, an unsupported version, a missing
//! version, a room the caller is not in; each leaves no new room behind.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{User, enc, register};

async fn upgrade(user: &User, room: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("/_matrix/client/v3/rooms/{}/upgrade", enc(room));
    user.call(Method::POST, &path, Some(body)).await
}

async fn joined_rooms(user: &User) -> Vec<Value> {
    user.ok(Method::GET, "/_matrix/client/v3/joined_rooms", None)
        .await["joined_rooms"]
        .as_array()
        .expect("joined_rooms")
        .clone()
}

async fn upgrade_across_organisations(backend: Db) {
    let c = Consortium::start(2, backend, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(2).base_url, "carol").await;
    let dave = register(&c.org(2).base_url, "dave").await;
    let erin = register(&c.org(2).base_url, "erin").await;
    let old = alice
        .create_room(json!({
            "preset": "public_chat",
            "room_version": "11",
            "name": "Lobby",
            "topic": "Say hello",
            "room_alias_name": "lobby",
        }))
        .await;
    for user in [&bob, &carol, &erin] {
        user.join_when_known(&old).await;
    }
    let mut levels = alice.state_when(&old, "m.room.power_levels", "").await;
    levels["users"]["@bob:org2.localhost"] = json!(50);
    let (status, v) = alice
        .put_state(&old, "m.room.power_levels", "", levels)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = alice
        .room_action(&old, "ban", json!({"user_id": "@carol:org2.localhost"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    bob.state_matching(&old, "m.room.member", "@carol:org2.localhost", |m| {
        m["membership"] == "ban"
    })
    .await;

    // Refusals, with nothing made: Bob may not tombstone (100 needed), Dave is not in the
    // room, version 99 does not exist, and the version is required.
    let before = joined_rooms(&bob).await;
    let (status, v) = upgrade(&bob, &old, json!({"new_version": "12"})).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_FORBIDDEN")),
        "{v}"
    );
    let (status, v) = upgrade(&dave, &old, json!({"new_version": "12"})).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_FORBIDDEN")),
        "{v}"
    );
    let (status, v) = upgrade(&alice, &old, json!({"new_version": "99"})).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_UNSUPPORTED_ROOM_VERSION")),
        "{v}"
    );
    let (status, v) = upgrade(&alice, &old, json!({})).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_BAD_JSON")),
        "{v}"
    );
    let (status, v) = upgrade(&alice, &old, json!({"new_version": 12})).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_BAD_JSON")),
        "{v}"
    );
    assert_eq!(joined_rooms(&bob).await, before);
    assert_eq!(joined_rooms(&alice).await, vec![json!(old)]);

    let (status, v) = upgrade(&alice, &old, json!({"new_version": "12"})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let new = v["replacement_room"]
        .as_str()
        .expect("replacement_room")
        .to_owned();
    assert_ne!(new, old);

    // On org2: the tombstone, and the old room closed to ordinary members.
    let tombstone = bob.state_when(&old, "m.room.tombstone", "").await;
    assert_eq!(tombstone["replacement_room"], json!(new), "{tombstone}");
    let old_levels = bob
        .state_matching(&old, "m.room.power_levels", "", |l| {
            l["events_default"] == 50
        })
        .await;
    for key in ["events_default", "invite"] {
        assert!(old_levels[key].as_i64().expect(key) >= 50, "{old_levels}");
    }
    // The new room, joined from org2: its create event, the state carried over.
    bob.join_when_known(&new).await;
    let create = bob.state_when(&new, "m.room.create", "").await;
    assert_eq!(create["room_version"], json!("12"), "{create}");
    assert_eq!(create["predecessor"]["room_id"], json!(old), "{create}");
    assert_eq!(
        bob.state_when(&new, "m.room.name", "").await["name"],
        json!("Lobby")
    );
    assert_eq!(
        bob.state_when(&new, "m.room.topic", "").await["topic"],
        json!("Say hello")
    );
    assert_eq!(
        bob.state_when(&new, "m.room.join_rules", "").await["join_rule"],
        json!("public")
    );
    let new_levels = bob.state_when(&new, "m.room.power_levels", "").await;
    assert_eq!(
        new_levels["users"]["@bob:org2.localhost"],
        json!(50),
        "{new_levels}"
    );
    assert!(
        new_levels["users"].get("@alice:org1.localhost").is_none(),
        "{new_levels}"
    );
    let ban = bob
        .state_when(&new, "m.room.member", "@carol:org2.localhost")
        .await;
    assert_eq!(ban["membership"], json!("ban"), "{ban}");
    let (status, v) = carol.join(&new).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    // The alias moved; Bob speaks in the new room, and Erin (power 0) no longer in the old.
    let alias_path = format!(
        "/_matrix/client/v3/directory/room/{}",
        enc("#lobby:org1.localhost")
    );
    let mut resolved = Value::Null;
    for _ in 0..200 {
        resolved = bob.ok(Method::GET, &alias_path, None).await;
        if resolved["room_id"] == json!(new) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(resolved["room_id"], json!(new), "{resolved}");
    bob.send(&new, "hello in the new room").await;
    let (status, v) = erin.send_txn(&old, "late", "hello in the old room").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upgrade_across_organisations_sqlite() {
    upgrade_across_organisations(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upgrade_across_organisations_postgres() {
    upgrade_across_organisations(Db::Postgres).await;
}

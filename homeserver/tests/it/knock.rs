//! `POST /knock/{roomIdOrAlias}` across two organisations, on SQLite and PostgreSQL. A room
//! on org1 with the `knock` join rule: Bob on org2, no contact of Alice, knocks by alias,
//! sees the room under `rooms.knock` of his `/sync`, may not simply join, and is let in by
//! Alice's invite (a knock is the knocker's own request, so the contacts policy that would
//! refuse an unsolicited invite does not apply; it still refuses Erin, who did not knock).
//! Carol's knock is refused by a kick, Dave withdraws his. Knocking on a public room, an
//! unknown room or alias, a malformed id, or a room one is already in, is refused.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{User, enc, register};

async fn knock(user: &User, target: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("/_matrix/client/v3/knock/{}", enc(target));
    user.call(Method::POST, &path, Some(body)).await
}

fn refused(answer: &(StatusCode, Value), status: StatusCode, errcode: &str) {
    assert_eq!(
        (answer.0, answer.1["errcode"].as_str()),
        (status, Some(errcode)),
        "{}",
        answer.1
    );
}

async fn membership_on(user: &User, room: &str, who: &str, wanted: &str) {
    user.state_matching(room, "m.room.member", who, |m| m["membership"] == wanted)
        .await;
}

async fn knocking_across_organisations(backend: Db) {
    let c = Consortium::start(2, backend, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(2).base_url, "carol").await;
    let dave = register(&c.org(2).base_url, "dave").await;
    let erin = register(&c.org(2).base_url, "erin").await;
    let room = alice
        .create_room(json!({
            "preset": "private_chat",
            "name": "Board",
            "room_alias_name": "board",
            "initial_state": [{"type": "m.room.join_rules", "content": {"join_rule": "knock"}}],
        }))
        .await;
    let alias = "#board:org1.localhost";
    bob.wait_for_alias(alias).await;

    // Bob knocks by alias, with a reason; his own node lists the room under `knock`.
    let (status, v) = knock(&bob, alias, json!({"reason": "I sit on the board"})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["room_id"], json!(room));
    let synced = bob
        .sync_until(None, 5, |s| s["rooms"]["knock"].get(&room).is_some())
        .await;
    let knock_state = synced["rooms"]["knock"][&room]["knock_state"]["events"]
        .as_array()
        .expect("knock_state events")
        .clone();
    let find = |kind: &str| knock_state.iter().find(|e| e["type"] == kind).cloned();
    assert_eq!(
        find("m.room.join_rules").expect("join rule")["content"]["join_rule"],
        json!("knock")
    );
    assert_eq!(
        find("m.room.name").expect("name")["content"]["name"],
        json!("Board")
    );
    let own = knock_state.last().expect("own membership");
    assert_eq!(own["state_key"], json!(bob.user_id));
    assert_eq!(own["content"]["membership"], json!("knock"));
    // Knocking again changes nothing; joining without an invite is refused.
    let (status, v) = knock(&bob, &room, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    refused(&bob.join(&room).await, StatusCode::FORBIDDEN, "M_FORBIDDEN");

    // Alice's node shows the knock with its reason; her invite lets Bob in.
    let member = alice
        .state_matching(&room, "m.room.member", &bob.user_id, |m| {
            m["membership"] == "knock"
        })
        .await;
    assert_eq!(member["reason"], json!("I sit on the board"));
    let (status, v) = alice
        .room_action(&room, "invite", json!({"user_id": bob.user_id}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    bob.sync_until(None, 5, |s| s["rooms"]["invite"].get(&room).is_some())
        .await;
    let (status, v) = bob.join(&room).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Erin did not knock: the contacts policy still refuses inviting her.
    let refusal = alice
        .room_action(&room, "invite", json!({"user_id": erin.user_id}))
        .await;
    refused(&refusal, StatusCode::FORBIDDEN, "M_FORBIDDEN");

    // Carol's knock is refused with a kick; Dave withdraws his by leaving.
    for user in [&carol, &dave] {
        let (status, v) = knock(user, &room, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    membership_on(&alice, &room, &carol.user_id, "knock").await;
    let (status, v) = alice
        .room_action(
            &room,
            "kick",
            json!({"user_id": carol.user_id, "reason": "not now"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    membership_on(&alice, &room, &carol.user_id, "leave").await;
    let (status, v) = dave.room_action(&room, "leave", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    membership_on(&alice, &room, &dave.user_id, "leave").await;

    // Refusals: already in the room, a public room, unknown room and alias, malformed id.
    refused(
        &knock(&bob, &room, json!({})).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let public = alice.create_room(json!({"preset": "public_chat"})).await;
    let mut answer = knock(&erin, &public, json!({})).await;
    for _ in 0..100 {
        if answer.0 != StatusCode::NOT_FOUND {
            break;
        }
        // Erin's node has not applied the room's creation yet.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        answer = knock(&erin, &public, json!({})).await;
    }
    refused(&answer, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    refused(
        &knock(&erin, "!nowhere:org1.localhost", json!({})).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    refused(
        &knock(&erin, "#nowhere:org1.localhost", json!({})).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    refused(
        &knock(&erin, "not-a-room", json!({})).await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    refused(
        &knock(&erin, &room, json!({"reason": 7})).await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn knocking_across_organisations_sqlite() {
    knocking_across_organisations(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn knocking_across_organisations_postgres() {
    knocking_across_organisations(Db::Postgres).await;
}

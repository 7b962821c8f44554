//! Bad input on the room endpoints: every request below gets a clear Matrix error and leaves
//! the ledger's projection and the node's own tables exactly as they were.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

use crate::client::{User, enc, register};

/// Row counts of every table a room request could write.
async fn footprint(c: &Consortium) -> Vec<(String, i64)> {
    let pool = &c.org(1).node.state.db.pool;
    let mut out = Vec::new();
    for table in [
        "bridge_rooms",
        "bridge_room_events",
        "bridge_room_state",
        "bridge_memberships",
        "bridge_aliases",
        "bridge_public_rooms",
        "bridge_receipts",
        "hs_send_txns",
        "hs_account_data",
        "hs_private_receipts",
    ] {
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(pool)
            .await
            .expect("count")
            .get(0);
        out.push((table.to_owned(), n));
    }
    out
}

#[track_caller]
fn error(answer: (StatusCode, Value), status: StatusCode, errcode: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["errcode"], errcode, "{}", answer.1);
    assert!(
        answer.1["error"].as_str().is_some_and(|m| !m.is_empty()),
        "a clear message: {}",
        answer.1
    );
}

async fn bad_requests(alice: &User, bob: &User, room: &str) {
    let r = enc(room);
    let create = "/_matrix/client/v3/createRoom";
    // Malformed JSON, wrong types, unknown versions and users, bad aliases.
    error(
        alice
            .call_raw(Method::POST, create, b"{\"name\": ".to_vec())
            .await,
        StatusCode::BAD_REQUEST,
        "M_NOT_JSON",
    );
    error(
        alice
            .call(Method::POST, create, Some(json!({"name": 5})))
            .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    error(
        alice
            .call(Method::POST, create, Some(json!({"room_version": "9"})))
            .await,
        StatusCode::BAD_REQUEST,
        "M_UNSUPPORTED_ROOM_VERSION",
    );
    error(
        alice
            .call(
                Method::POST,
                create,
                Some(json!({"invite": ["@nobody:org1.localhost"]})),
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    error(
        alice
            .call(
                Method::POST,
                create,
                Some(json!({"room_alias_name": "a:b"})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    error(
        alice
            .call(
                Method::POST,
                create,
                Some(json!({"room_alias_name": "taken"})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_ROOM_IN_USE",
    );
    error(
        alice
            .call(
                Method::POST,
                create,
                Some(json!({"initial_state": [{"type": "m.room.topic", "content": "not an object"}]})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    // An oversized body, and an event over Matrix's 64 KiB PDU limit.
    let huge = vec![b' '; 2 * 1024 * 1024];
    error(
        alice.call_raw(Method::POST, create, huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "M_TOO_LARGE",
    );
    let send = format!("/_matrix/client/v3/rooms/{r}/send/m.room.message/big");
    let big = json!({"msgtype": "m.text", "body": "x".repeat(70_000)});
    error(
        alice.call(Method::PUT, &send, Some(big)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "M_TOO_LARGE",
    );
    // Content that is not an object, unknown rooms, rooms one is not in.
    let send = format!("/_matrix/client/v3/rooms/{r}/send/m.room.message/arr");
    error(
        alice.call(Method::PUT, &send, Some(json!([1, 2]))).await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    let unknown = enc("!nowhere:org1.localhost");
    error(
        alice
            .call(
                Method::PUT,
                &format!("/_matrix/client/v3/rooms/{unknown}/send/m.room.message/u1"),
                Some(json!({"body": "hi", "msgtype": "m.text"})),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    error(
        bob.call(
            Method::PUT,
            &format!("/_matrix/client/v3/rooms/{r}/send/m.room.message/b1"),
            Some(json!({"body": "hi", "msgtype": "m.text"})),
        )
        .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    error(
        alice
            .call(
                Method::PUT,
                "/_matrix/client/v3/rooms/not-a-room-id/send/m.room.message/x",
                Some(json!({})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    // State: not an object; a member event for someone else's join.
    let state = format!("/_matrix/client/v3/rooms/{r}/state/m.room.topic/");
    error(
        alice.call(Method::PUT, &state, Some(json!("topic"))).await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    let member = format!(
        "/_matrix/client/v3/rooms/{r}/state/m.room.member/{}",
        enc(&bob.user_id)
    );
    error(
        alice
            .call(Method::PUT, &member, Some(json!({"membership": "join"})))
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    error(
        alice
            .call(Method::PUT, &member, Some(json!({"membership": 7})))
            .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    // Pagination and sync tokens.
    for path in [
        format!("/_matrix/client/v3/rooms/{r}/messages?dir=b&from=garbage"),
        format!("/_matrix/client/v3/rooms/{r}/messages?dir=sideways"),
        "/_matrix/client/v3/sync?since=s1_2".to_owned(),
        "/_matrix/client/v3/sync?filter=nosuchfilter".to_owned(),
    ] {
        error(
            alice.call(Method::GET, &path, None).await,
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
        );
    }
    // Receipts for events of other rooms, typing for others, server-managed account data.
    error(
        alice
            .call(
                Method::POST,
                &format!(
                    "/_matrix/client/v3/rooms/{r}/receipt/m.read/{}",
                    enc("$nope")
                ),
                Some(json!({})),
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    error(
        alice
            .call(
                Method::PUT,
                &format!("/_matrix/client/v3/rooms/{r}/typing/{}", enc(&bob.user_id)),
                Some(json!({"typing": true, "timeout": 1000})),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    error(
        alice
            .call(
                Method::PUT,
                &format!(
                    "/_matrix/client/v3/user/{}/account_data/m.push_rules",
                    enc(&alice.user_id)
                ),
                Some(json!({})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    error(
        alice
            .call(
                Method::PUT,
                &format!(
                    "/_matrix/client/v3/user/{}/account_data/m.x",
                    enc(&bob.user_id)
                ),
                Some(json!({})),
            )
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    error(
        alice
            .call(
                Method::PUT,
                "/_matrix/client/v3/pushrules/global/content/.dotted",
                Some(json!({"pattern": "x", "actions": ["notify"]})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    error(
        alice
            .call(
                Method::DELETE,
                "/_matrix/client/v3/pushrules/global/override/.m.rule.master",
                None,
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_UNKNOWN",
    );
    // Redacting an event that is not in the room (the ledger's typed `not_found`); aliases of another organisation.
    error(
        alice
            .call(
                Method::PUT,
                &format!("/_matrix/client/v3/rooms/{r}/redact/{}/x1", enc("$nope")),
                Some(json!({})),
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    error(
        alice
            .call(
                Method::PUT,
                &format!(
                    "/_matrix/client/v3/directory/room/{}",
                    enc("#x:org2.localhost")
                ),
                Some(json!({"room_id": room})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    // Missing and unknown tokens.
    let anonymous = reqwest::Client::new()
        .get(format!("{}/_matrix/client/v3/sync", alice.base))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// One organisation is enough to check refusals; the consortium's agreement on them is
/// checked in `rooms`.
async fn room_endpoints_refuse_bad_input(db: Db) {
    let c = Consortium::start(2, db, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let room = alice.create_room(json!({"room_alias_name": "taken"})).await;
    alice.send(&room, "before").await;
    let before = footprint(&c).await;
    bad_requests(&alice, &bob, &room).await;
    assert_eq!(footprint(&c).await, before, "nothing was written");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn room_endpoints_refuse_bad_input_sqlite() {
    room_endpoints_refuse_bad_input(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn room_endpoints_refuse_bad_input_postgres() {
    room_endpoints_refuse_bad_input(Db::Postgres).await;
}

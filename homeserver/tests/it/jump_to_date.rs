//! `GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event` ("jump to date") across two
//! organisations, on SQLite and PostgreSQL: the nearest visible event in each direction by
//! `origin_server_ts`, 404 past the ends, 403 outside the room, 400 for bad parameters.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::client::{User, enc, register};
use crate::rooms::everywhere;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

async fn jump(user: &User, room: &str, query: &str) -> (StatusCode, serde_json::Value) {
    user.call(
        Method::GET,
        &format!(
            "/_matrix/client/v1/rooms/{}/timestamp_to_event?{query}",
            enc(room)
        ),
        None,
    )
    .await
}

async fn jumps_to_the_nearest_visible_event(backend: Db) {
    let c = Consortium::start(2, backend, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(2).base_url, "carol").await;
    let before_room = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    let first = alice.send(&room, "first").await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let between = now_ms();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let second = alice.send(&room, "second").await;
    everywhere(&c, &second).await;
    assert!(bob.join(&room).await.0.is_success());

    // Bob, on the other organisation, jumps from between the two messages.
    let (status, after) = jump(&bob, &room, &format!("ts={between}&dir=f")).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["event_id"], second.as_str(), "{after}");
    assert!(after["origin_server_ts"].as_u64().expect("ts") >= between);
    let (status, earlier) = jump(&bob, &room, &format!("ts={between}&dir=b")).await;
    assert_eq!(status, StatusCode::OK, "{earlier}");
    assert_eq!(earlier["event_id"], first.as_str(), "{earlier}");
    assert!(earlier["origin_server_ts"].as_u64().expect("ts") <= between);
    // From before the room, forwards: its creation.
    let (status, start) = jump(&bob, &room, &format!("ts={before_room}&dir=f")).await;
    assert_eq!(status, StatusCode::OK, "{start}");
    let create = bob
        .ok(
            Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/event/{}",
                enc(&room),
                enc(start["event_id"].as_str().expect("id"))
            ),
            None,
        )
        .await;
    assert_eq!(create["type"], "m.room.create", "{create}");
    // Past either end.
    for query in [
        format!("ts={before_room}&dir=b"),
        format!("ts={}&dir=f", now_ms() + 3_600_000),
    ] {
        let (status, v) = jump(&bob, &room, &query).await;
        assert_eq!(
            (status, v["errcode"].as_str()),
            (StatusCode::NOT_FOUND, Some("M_NOT_FOUND")),
            "{query}: {v}"
        );
    }
    // Not in a private room: forbidden, as for its messages.
    let private = alice.create_room(json!({"preset": "private_chat"})).await;
    let (status, v) = jump(&carol, &private, &format!("ts={between}&dir=f")).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_FORBIDDEN")),
        "{v}"
    );
    // Bad parameters.
    for query in ["dir=f", "ts=1", "ts=soon&dir=f", "ts=1&dir=sideways"] {
        let (status, v) = jump(&bob, &room, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert!(v["errcode"].is_string(), "{query}: {v}");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jump_to_date_sqlite() {
    jumps_to_the_nearest_visible_event(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jump_to_date_postgres() {
    jumps_to_the_nearest_visible_event(Db::Postgres).await;
}

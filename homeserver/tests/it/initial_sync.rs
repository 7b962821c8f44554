//! `GET /rooms/{roomId}/initialSync` across two organisations: the latest messages in order
//! with a token that `/messages` continues from, the state, the caller's membership and room
//! account data; 403 for a room the caller may not read.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{bodies, enc, register};
use crate::rooms::everywhere;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rooms_initial_sync_from_another_organisation() {
    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(2).base_url, "carol").await;
    let room = alice
        .create_room(json!({"preset": "public_chat", "name": "Harbour"}))
        .await;
    bob.join_when_known(&room).await;
    let mut last = String::new();
    for i in 0..12 {
        last = alice.send(&room, &format!("m{i}")).await;
    }
    everywhere(&c, &last).await;
    bob.ok(
        Method::PUT,
        &format!(
            "/_matrix/client/v3/user/{}/rooms/{}/account_data/org.example.note",
            enc(&bob.user_id),
            enc(&room)
        ),
        Some(json!({"note": "the harbour room"})),
    )
    .await;

    let path = format!("/_matrix/client/v3/rooms/{}/initialSync", enc(&room));
    let answer = bob.ok(Method::GET, &path, None).await;
    assert_eq!(answer["room_id"], room.as_str());
    assert_eq!(answer["membership"], "join");
    assert_eq!(answer["visibility"], "private", "not in the directory");
    let chunk: Vec<Value> = answer["messages"]["chunk"]
        .as_array()
        .expect("chunk")
        .clone();
    assert_eq!(chunk.len(), 10, "{answer}");
    let texts = bodies(&chunk);
    assert_eq!(texts.first().map(String::as_str), Some("m2"), "{texts:?}");
    assert_eq!(texts.last().map(String::as_str), Some("m11"), "{texts:?}");
    let state = answer["state"].as_array().expect("state");
    assert!(
        state
            .iter()
            .any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Harbour")
    );
    assert!(
        state
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["state_key"] == bob.user_id.as_str())
    );
    let data = answer["account_data"].as_array().expect("account_data");
    assert!(
        data.iter()
            .any(|d| d["type"] == "org.example.note" && d["content"]["note"] == "the harbour room"),
        "{answer}"
    );
    // `/messages` continues from `start`, further back.
    let start = answer["messages"]["start"].as_str().expect("start");
    let older = bob
        .ok(
            Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=2&from={}",
                enc(&room),
                enc(start)
            ),
            None,
        )
        .await;
    assert_eq!(
        bodies(older["chunk"].as_array().expect("chunk")),
        vec!["m1".to_owned(), "m0".to_owned()]
    );
    // Not for someone outside a private room.
    let private = alice.create_room(json!({"preset": "private_chat"})).await;
    let (status, v) = carol
        .call(
            Method::GET,
            &format!("/_matrix/client/v3/rooms/{}/initialSync", enc(&private)),
            None,
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_FORBIDDEN")),
        "{v}"
    );
    c.shutdown().await;
}

//! `POST /search` across two organisations, on SQLite (FTS5) and PostgreSQL (`tsvector`):
//! a word finds the message and the room topic that have it (by prefix, ranked or newest
//! first, page by page, with context, profiles, room state and groups). It does not find a
//! message sent after the searcher left, one in an encrypted room, nor a redacted one. Bad
//! input answers 400 with Synapse's codes.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{User, enc, register};
use crate::rooms::everywhere;

async fn search(user: &User, criteria: Value, next_batch: Option<&str>) -> (StatusCode, Value) {
    let path = match next_batch {
        Some(b) => format!("/_matrix/client/v3/search?next_batch={}", enc(b)),
        None => "/_matrix/client/v3/search".to_owned(),
    };
    user.call(
        Method::POST,
        &path,
        Some(json!({"search_categories": {"room_events": criteria}})),
    )
    .await
}

async fn found(user: &User, criteria: Value) -> Vec<String> {
    let (status, v) = search(user, criteria, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    ids(&v)
}

fn ids(answer: &Value) -> Vec<String> {
    answer["search_categories"]["room_events"]["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {answer}"))
        .iter()
        .map(|r| {
            r["result"]["event_id"]
                .as_str()
                .expect("event_id")
                .to_owned()
        })
        .collect()
}

async fn searching_across_organisations(backend: Db) {
    let c = Consortium::start(2, backend, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(2).base_url, "carol").await;
    let room = alice
        .create_room(
            json!({"preset": "public_chat", "name": "Planning", "topic": "Quarterly budget"}),
        )
        .await;
    for user in [&bob, &carol] {
        user.join_when_known(&room).await;
    }
    let report = bob.send(&room, "The quarterly report is late").await;
    let lunch = alice.send(&room, "Lunch at noon?").await;
    let (status, v) = carol.room_action(&room, "leave", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let secret = bob.send(&room, "Quarterly numbers, after Carol left").await;
    let redacted = bob.send(&room, "quarterly typo").await;
    let (status, v) = bob
        .call(
            Method::PUT,
            &format!(
                "/_matrix/client/v3/rooms/{}/redact/{}/r1",
                enc(&room),
                enc(&redacted)
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // An encrypted room: neither its ciphertext nor a stray plaintext message is found.
    let secure = alice
        .create_room(json!({
            "preset": "public_chat",
            "initial_state": [{"type": "m.room.encryption", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
        }))
        .await;
    bob.join_when_known(&secure).await;
    bob.ok(
        Method::PUT,
        &format!("/_matrix/client/v3/rooms/{}/send/m.room.encrypted/e1", enc(&secure)),
        Some(json!({"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "quarterly", "sender_key": "k", "session_id": "s", "device_id": "D"})),
    )
    .await;
    let last = bob.send(&secure, "quarterly in plaintext").await;
    everywhere(&c, &last).await;

    // Bob, on org2: the message by prefix; with the topic when names and topics count too.
    assert_eq!(
        found(
            &bob,
            json!({"search_term": "quart", "keys": ["content.body"], "order_by": "recent"})
        )
        .await,
        vec![secret.clone(), report.clone()]
    );
    let all = found(
        &bob,
        json!({"search_term": "QUARTERLY", "order_by": "recent"}),
    )
    .await;
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[..2], [secret.clone(), report.clone()]);
    assert_eq!(
        found(&bob, json!({"search_term": "lunch noon"})).await,
        vec![lunch.clone()]
    );
    assert!(
        found(&bob, json!({"search_term": "lunch quarterly"}))
            .await
            .is_empty()
    );
    assert!(found(&bob, json!({"search_term": "?!"})).await.is_empty());
    // Carol left before the second message.
    assert_eq!(
        found(
            &carol,
            json!({"search_term": "quarterly", "keys": ["content.body"]})
        )
        .await,
        vec![report.clone()]
    );
    // A filter on another room, and on senders.
    assert!(
        found(
            &bob,
            json!({"search_term": "quarterly", "filter": {"rooms": [secure]}})
        )
        .await
        .is_empty()
    );
    assert_eq!(
        found(&alice, json!({"search_term": "quarterly", "keys": ["content.body"], "filter": {"senders": ["@bob:org2.localhost"]}, "order_by": "recent"})).await,
        vec![secret.clone(), report.clone()]
    );
    // Each key searches only its own text: the topic's words are not in the name.
    assert_eq!(
        found(
            &bob,
            json!({"search_term": "budget", "keys": ["content.topic"]})
        )
        .await
        .len(),
        1
    );
    assert!(
        found(
            &bob,
            json!({"search_term": "budget", "keys": ["content.name", "content.body"]})
        )
        .await
        .is_empty()
    );

    // Pages, context, profiles, state and groups.
    let criteria = json!({
        "search_term": "quarterly",
        "keys": ["content.body"],
        "order_by": "recent",
        "filter": {"limit": 1},
        "event_context": {"before_limit": 1, "after_limit": 1, "include_profile": true},
        "include_state": true,
        "groupings": {"group_by": [{"key": "room_id"}, {"key": "sender"}]},
    });
    let (status, first) = search(&bob, criteria.clone(), None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let events = &first["search_categories"]["room_events"];
    assert_eq!(ids(&first), vec![secret.clone()]);
    assert_eq!(events["count"], json!(2), "{first}");
    assert_eq!(events["highlights"], json!(["quarterly"]));
    let result = &events["results"][0];
    assert!(result["rank"].is_number(), "{result}");
    assert_eq!(
        result["context"]["events_before"].as_array().map(Vec::len),
        Some(1),
        "{result}"
    );
    assert_eq!(
        result["context"]["profile_info"]["@bob:org2.localhost"]["displayname"],
        json!("bob"),
        "{result}"
    );
    assert!(
        events["state"][&room]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{first}"
    );
    assert_eq!(
        events["groups"]["room_id"][&room]["results"],
        json!([secret]),
        "{first}"
    );
    assert_eq!(
        events["groups"]["sender"]["@bob:org2.localhost"]["order"],
        json!(1)
    );
    let next = events["next_batch"].as_str().expect("next_batch");
    let (status, second) = search(&bob, criteria, Some(next)).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(ids(&second), vec![report.clone()]);
    assert!(
        second["search_categories"]["room_events"]
            .get("next_batch")
            .is_none(),
        "{second}"
    );

    // Bad input.
    for (criteria, errcode) in [
        (
            json!({"search_term": "q", "order_by": "sideways"}),
            "M_INVALID_PARAM",
        ),
        (
            json!({"search_term": "q", "keys": ["content.nope"]}),
            "M_INVALID_PARAM",
        ),
        (json!({"search_term": 7}), "M_BAD_JSON"),
        (json!({}), "M_BAD_JSON"),
    ] {
        let (status, v) = search(&bob, criteria.clone(), None).await;
        assert_eq!(
            (status, v["errcode"].as_str()),
            (StatusCode::BAD_REQUEST, Some(errcode)),
            "{criteria}: {v}"
        );
    }
    let (status, v) = search(&bob, json!({"search_term": "q"}), Some("garbage")).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_INVALID_PARAM")),
        "{v}"
    );
    let (status, v) = bob
        .call(
            Method::POST,
            "/_matrix/client/v3/search",
            Some(json!({"search_categories": 3})),
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_BAD_JSON")),
        "{v}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn searching_across_organisations_sqlite() {
    searching_across_organisations(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn searching_across_organisations_postgres() {
    searching_across_organisations(Db::Postgres).await;
}

//! Relations and threads across two organisations: an edit, a reaction and a thread of three
//! replies to a message, listed by `/relations` (all, by type, by type and event type, page by
//! page) and `/threads` (all and participated), and the aggregations bundled with the
//! message (the latest valid edit, the thread summary, references the reader may see), on
//! SQLite and PostgreSQL.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{User, enc, register};
use crate::rooms::everywhere;

fn ids(answer: &Value) -> Vec<String> {
    answer["chunk"]
        .as_array()
        .unwrap_or_else(|| panic!("no chunk: {answer}"))
        .iter()
        .map(|e| e["event_id"].as_str().expect("event_id").to_owned())
        .collect()
}

async fn get(user: &User, path: &str) -> Value {
    user.ok(Method::GET, path, None).await
}

async fn relations_and_threads(backend: Db) {
    let c = Consortium::start(2, backend, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(2).base_url, "carol").await;
    let dave = register(&c.org(2).base_url, "dave").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    for user in [&bob, &carol, &dave] {
        user.join_when_known(&room).await;
    }
    let root = alice.send(&room, "lunch?").await;
    let edit = alice
        .send_content(
            &room,
            json!({"msgtype": "m.text", "body": "* lunch at noon?", "m.new_content": {"msgtype": "m.text", "body": "lunch at noon?"}, "m.relates_to": {"rel_type": "m.replace", "event_id": root}}),
        )
        .await;
    let reaction = bob
        .ok(
            Method::PUT,
            &format!("/_matrix/client/v3/rooms/{}/send/m.reaction/r1", enc(&room)),
            Some(json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": root, "key": "👍"}})),
        )
        .await["event_id"]
        .as_str()
        .expect("event_id")
        .to_owned();
    let mut replies = Vec::new();
    for i in 0..3 {
        replies.push(
            bob.send_content(
                &room,
                json!({"msgtype": "m.text", "body": format!("reply {i}"), "m.relates_to": {"rel_type": "m.thread", "event_id": root, "is_falling_back": true, "m.in_reply_to": {"event_id": root}}}),
            )
            .await,
        );
    }
    // Bob's "edit" of Alice's message is not an edit: only the sender may replace.
    let forged = bob
        .send_content(
            &room,
            json!({"msgtype": "m.text", "body": "* pizza", "m.new_content": {"msgtype": "m.text", "body": "pizza"}, "m.relates_to": {"rel_type": "m.replace", "event_id": root}}),
        )
        .await;
    // Dave leaves; the reference Carol makes afterwards is not his to see.
    let (status, v) = dave.room_action(&room, "leave", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let reference = carol
        .send_content(
            &room,
            json!({"msgtype": "m.text", "body": "see above", "m.relates_to": {"rel_type": "m.reference", "event_id": root}}),
        )
        .await;
    everywhere(&c, &reference).await;

    // Bundled aggregations on the root, read on org 2: the latest valid edit, the thread's
    // summary from the reader's point of view, and the references.
    let event_path = format!(
        "/_matrix/client/v3/rooms/{}/event/{}",
        enc(&room),
        enc(&root)
    );
    let seen_by_carol = get(&carol, &event_path).await;
    let bundled = &seen_by_carol["unsigned"]["m.relations"];
    assert_eq!(
        bundled["m.replace"]["event_id"],
        json!(edit),
        "{seen_by_carol}"
    );
    assert_eq!(
        bundled["m.replace"]["content"]["m.new_content"]["body"],
        json!("lunch at noon?")
    );
    assert_eq!(bundled["m.thread"]["count"], json!(3), "{seen_by_carol}");
    assert_eq!(
        bundled["m.thread"]["latest_event"]["event_id"],
        json!(replies[2])
    );
    assert_eq!(
        bundled["m.thread"]["current_user_participated"],
        json!(false)
    );
    assert_eq!(
        bundled["m.reference"]["chunk"],
        json!([{ "event_id": reference }])
    );
    let seen_by_bob = get(&bob, &event_path).await;
    assert_eq!(
        seen_by_bob["unsigned"]["m.relations"]["m.thread"]["current_user_participated"],
        json!(true)
    );
    let seen_by_dave = get(&dave, &event_path).await;
    let dave_bundle = &seen_by_dave["unsigned"]["m.relations"];
    assert_eq!(dave_bundle["m.thread"]["count"], json!(3), "{seen_by_dave}");
    assert!(dave_bundle.get("m.reference").is_none(), "{seen_by_dave}");
    // The edit itself bundles nothing, and the forged one is only an event.
    let forged_path = format!(
        "/_matrix/client/v3/rooms/{}/event/{}",
        enc(&room),
        enc(&forged)
    );
    assert!(
        get(&carol, &forged_path).await["unsigned"]
            .get("m.relations")
            .is_none()
    );

    let base = format!(
        "/_matrix/client/v1/rooms/{}/relations/{}",
        enc(&room),
        enc(&root)
    );
    // All of them, newest first (the default direction), read on org 2.
    let all = get(&bob, &format!("{base}?limit=10")).await;
    let mut expected = vec![edit.clone(), reaction.clone()];
    expected.extend(replies.iter().cloned());
    expected.extend([forged.clone(), reference.clone()]);
    expected.reverse();
    assert_eq!(ids(&all), expected, "{all}");
    assert!(all.get("next_batch").is_none_or(Value::is_null), "{all}");
    // By relation type, and by relation and event type.
    let thread = get(&bob, &format!("{base}/m.thread?dir=f")).await;
    assert_eq!(ids(&thread), replies);
    let reactions = get(&alice, &format!("{base}/m.annotation/m.reaction")).await;
    assert_eq!(ids(&reactions), vec![reaction.clone()]);
    assert!(ids(&get(&alice, &format!("{base}/m.annotation/m.room.message")).await).is_empty());
    // Page by page.
    let mut paged = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..5 {
        let query = match &from {
            Some(f) => format!("{base}/m.thread?dir=f&limit=2&from={}", enc(f)),
            None => format!("{base}/m.thread?dir=f&limit=2"),
        };
        let page = get(&carol, &query).await;
        paged.extend(ids(&page));
        match page["next_batch"].as_str() {
            Some(next) => from = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, replies);

    // Threads: the root, for everyone, with its summary; participated: Bob's and Alice's,
    // not Carol's.
    let threads = format!("/_matrix/client/v1/rooms/{}/threads", enc(&room));
    let listed = get(&carol, &threads).await;
    assert_eq!(ids(&listed), vec![root.clone()]);
    assert_eq!(
        listed["chunk"][0]["unsigned"]["m.relations"]["m.thread"]["count"],
        json!(3),
        "{listed}"
    );
    assert_eq!(
        ids(&get(&bob, &format!("{threads}?include=participated")).await),
        vec![root.clone()]
    );
    assert_eq!(
        ids(&get(&alice, &format!("{threads}?include=participated")).await),
        vec![root.clone()]
    );
    assert!(ids(&get(&carol, &format!("{threads}?include=participated")).await).is_empty());

    // Unknown event, bad direction, a room the caller is not in.
    let (status, v) = bob
        .call(
            Method::GET,
            &format!(
                "/_matrix/client/v1/rooms/{}/relations/{}",
                enc(&room),
                enc("$nope")
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::NOT_FOUND, Some("M_NOT_FOUND")),
        "{v}"
    );
    let (status, _) = bob
        .call(Method::GET, &format!("{base}?dir=sideways"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let private = alice.create_room(json!({"preset": "private_chat"})).await;
    let (status, v) = carol
        .call(
            Method::GET,
            &format!("/_matrix/client/v1/rooms/{}/threads", enc(&private)),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relations_and_threads_sqlite() {
    relations_and_threads(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relations_and_threads_postgres() {
    relations_and_threads(Db::Postgres).await;
}

//! `GET /_matrix/client/v1/rooms/{roomId}/hierarchy` across two organisations: a space made on
//! one, walked from the other, with its public children and grandchildren but not the rooms
//! the caller may not see; `max_depth`, `suggested_only` and pagination; 403 for a space the
//! caller may not see, 400 for a bad token.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{User, enc, register};
use crate::rooms::everywhere;

async fn hierarchy(user: &User, room: &str, query: &str) -> (StatusCode, Value) {
    user.call(
        Method::GET,
        &format!("/_matrix/client/v1/rooms/{}/hierarchy?{query}", enc(room)),
        None,
    )
    .await
}

fn ids(answer: &Value) -> Vec<String> {
    answer["rooms"]
        .as_array()
        .unwrap_or_else(|| panic!("no rooms: {answer}"))
        .iter()
        .map(|r| r["room_id"].as_str().expect("room_id").to_owned())
        .collect()
}

async fn link(alice: &User, parent: &str, child: &str, suggested: bool) -> String {
    let (status, v) = alice
        .put_state(
            parent,
            "m.space.child",
            child,
            json!({"via": ["org1.localhost"], "suggested": suggested}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["event_id"].as_str().expect("event_id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_space_is_walked_from_another_organisation() {
    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let space = alice
        .create_room(json!({
            "preset": "public_chat",
            "name": "Consortium",
            "creation_content": {"type": "m.space"},
        }))
        .await;
    let lobby = alice
        .create_room(json!({"preset": "public_chat", "name": "Lobby", "topic": "Say hello"}))
        .await;
    let board = alice
        .create_room(json!({"preset": "private_chat", "name": "Board"}))
        .await;
    let kitchen = alice
        .create_room(json!({"preset": "public_chat", "name": "Kitchen"}))
        .await;
    link(&alice, &space, &lobby, true).await;
    link(&alice, &space, &board, false).await;
    let last = link(&alice, &lobby, &kitchen, false).await;
    // A link without `via` is no link.
    let (status, _) = alice
        .put_state(
            &space,
            "m.space.child",
            "!gone:org1.localhost",
            json!({"via": []}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    everywhere(&c, &last).await;

    // Bob, on org2, joined nothing: the public rooms only, breadth first.
    let (status, all) = hierarchy(&bob, &space, "").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(
        ids(&all),
        vec![space.clone(), lobby.clone(), kitchen.clone()],
        "{all}"
    );
    let root = &all["rooms"][0];
    assert_eq!(root["room_type"], "m.space", "{root}");
    assert_eq!(root["name"], "Consortium");
    // `join_rule` may be left out when it is `public` (the spec's default).
    assert_eq!(root["join_rule"].as_str().unwrap_or("public"), "public");
    assert_eq!(root["num_joined_members"], 1);
    let links: Vec<&str> = root["children_state"]
        .as_array()
        .expect("children_state")
        .iter()
        .map(|e| e["state_key"].as_str().expect("state_key"))
        .collect();
    assert_eq!(links.len(), 2, "{root}");
    assert!(links.contains(&lobby.as_str()) && links.contains(&board.as_str()));
    assert!(
        root["children_state"][0]["origin_server_ts"].is_u64(),
        "{root}"
    );
    assert_eq!(all["rooms"][1]["topic"], "Say hello");
    assert!(all.get("next_batch").is_none_or(Value::is_null), "{all}");

    // Alice is in the board too.
    let (_, hers) = hierarchy(&alice, &space, "").await;
    assert_eq!(
        ids(&hers),
        vec![space.clone(), lobby.clone(), board.clone(), kitchen.clone()]
    );
    // Depth, suggested rooms, pages.
    let (_, shallow) = hierarchy(&alice, &space, "max_depth=1").await;
    assert_eq!(
        ids(&shallow),
        vec![space.clone(), lobby.clone(), board.clone()]
    );
    let (_, suggested) = hierarchy(&alice, &space, "suggested_only=true").await;
    assert_eq!(ids(&suggested), vec![space.clone(), lobby.clone()]);
    let mut paged = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..10 {
        let query = match &from {
            Some(f) => format!("limit=1&from={f}"),
            None => "limit=1".to_owned(),
        };
        let (status, page) = hierarchy(&alice, &space, &query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(ids(&page).len(), 1, "{page}");
        paged.extend(ids(&page));
        match page["next_batch"].as_str() {
            Some(next) => from = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, ids(&hers));

    // A space Bob may not see, and bad parameters.
    let (status, v) = hierarchy(&bob, &board, "").await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_FORBIDDEN")),
        "{v}"
    );
    let (status, v) = hierarchy(&bob, &space, "from=elsewhere").await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_INVALID_PARAM")),
        "{v}"
    );
    let (status, v) = hierarchy(&bob, &space, "limit=lots").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");

    // One room's summary (MSC3266), from the other organisation and without a token.
    let summary = |room: &str| format!("/_matrix/client/v1/room_summary/{}", enc(room));
    let lobby_summary = bob.ok(Method::GET, &summary(&lobby), None).await;
    assert_eq!(lobby_summary["room_id"], lobby.as_str());
    assert_eq!(lobby_summary["name"], "Lobby");
    assert_eq!(lobby_summary["topic"], "Say hello");
    assert!(lobby_summary.get("membership").is_none(), "{lobby_summary}");
    let anonymous = reqwest::get(format!("{}{}", c.org(2).base_url, summary(&space)))
        .await
        .expect("summary");
    assert_eq!(anonymous.status(), StatusCode::OK);
    let anonymous: Value = anonymous.json().await.expect("json");
    assert_eq!(anonymous["room_type"], "m.space", "{anonymous}");
    let board_summary = alice.ok(Method::GET, &summary(&board), None).await;
    assert_eq!(board_summary["membership"], "join", "{board_summary}");
    let (status, v) = bob.call(Method::GET, &summary(&board), None).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::NOT_FOUND, Some("M_NOT_FOUND")),
        "{v}"
    );
    // A world-readable room that only invitees may join is previewed too.
    let readable = alice
        .create_room(json!({
            "preset": "private_chat",
            "name": "Minutes",
            "initial_state": [{"type": "m.room.history_visibility", "content": {"history_visibility": "world_readable"}}],
        }))
        .await;
    let mut seen = Value::Null;
    for _ in 0..100 {
        let (status, v) = bob.call(Method::GET, &summary(&readable), None).await;
        if status == StatusCode::OK {
            seen = v;
            break;
        }
        // Org2 has not applied the room yet.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen["name"], "Minutes", "{seen}");
    assert_eq!(seen["world_readable"], true, "{seen}");
    // The MSC3266 unstable path, which clients still call.
    let unstable = format!(
        "/_matrix/client/unstable/im.nheko.summary/rooms/{}/summary",
        enc(&lobby)
    );
    assert_eq!(bob.ok(Method::GET, &unstable, None).await["name"], "Lobby");
    c.shutdown().await;
}

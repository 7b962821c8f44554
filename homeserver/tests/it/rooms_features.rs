//! The rest of the room surface across two organisations: the room directory and aliases,
//! the user directory, receipts and unread counts, typing (org-local), account data, push
//! rules and notifications, presence, `/context`, forward pagination with filters, forget.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{User, bodies, enc, register};
use crate::rooms::everywhere;

fn room_of<'a>(sync: &'a Value, section: &str, room: &str) -> &'a Value {
    &sync["rooms"][section][room]
}

fn ephemeral_of(sync: &Value, room: &str, kind: &str) -> Option<Value> {
    room_of(sync, "join", room)["ephemeral"]["events"]
        .as_array()?
        .iter()
        .find(|e| e["type"] == kind)
        .cloned()
}

async fn directory_and_aliases(alice: &User, bob: &User, carol: &User, room: &str) {
    // Published by Alice on org 1, listed by org 2.
    let listed = bob
        .ok(Method::GET, "/_matrix/client/v3/publicRooms", None)
        .await;
    let entry = listed["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .find(|r| r["room_id"] == room)
        .unwrap_or_else(|| panic!("room listed on org2: {listed}"))
        .clone();
    assert_eq!(entry["name"], "Town square");
    assert_eq!(entry["canonical_alias"], "#town:org1.localhost");
    // `join_rule` may be left out when it is `public` (the spec's default).
    assert_eq!(entry["join_rule"].as_str().unwrap_or("public"), "public");
    assert_eq!(entry["num_joined_members"], 3);
    let search = bob
        .ok(
            Method::POST,
            "/_matrix/client/v3/publicRooms",
            Some(json!({"filter": {"generic_search_term": "square"}})),
        )
        .await;
    assert_eq!(
        search["chunk"].as_array().map(Vec::len),
        Some(1),
        "{search}"
    );
    let miss = bob
        .ok(
            Method::POST,
            "/_matrix/client/v3/publicRooms",
            Some(json!({"filter": {"generic_search_term": "no such room"}})),
        )
        .await;
    assert_eq!(miss["chunk"].as_array().map(Vec::len), Some(0), "{miss}");
    let visibility = bob
        .ok(
            Method::GET,
            &format!("/_matrix/client/v3/directory/list/room/{}", enc(room)),
            None,
        )
        .await;
    assert_eq!(visibility["visibility"], "public");
    let resolved = carol
        .ok(
            Method::GET,
            &format!(
                "/_matrix/client/v3/directory/room/{}",
                enc("#town:org1.localhost")
            ),
            None,
        )
        .await;
    assert_eq!(resolved["room_id"], room);
    // A second alias, then its removal by its creator.
    let extra = format!(
        "/_matrix/client/v3/directory/room/{}",
        enc("#plaza:org1.localhost")
    );
    alice
        .ok(Method::PUT, &extra, Some(json!({"room_id": room})))
        .await;
    let taken = alice
        .call(Method::PUT, &extra, Some(json!({"room_id": room})))
        .await;
    assert_eq!(taken.0, StatusCode::CONFLICT, "{}", taken.1);
    let aliases = alice
        .ok(
            Method::GET,
            &format!("/_matrix/client/v3/rooms/{}/aliases", enc(room)),
            None,
        )
        .await;
    assert_eq!(
        aliases["aliases"],
        json!(["#plaza:org1.localhost", "#town:org1.localhost"])
    );
    alice.ok(Method::DELETE, &extra, None).await;
    let gone = alice.call(Method::GET, &extra, None).await;
    assert_eq!(gone.0, StatusCode::NOT_FOUND, "{}", gone.1);
}

async fn user_directory(bob: &User, carol: &User) {
    let found = bob
        .ok(
            Method::POST,
            "/_matrix/client/v3/user_directory/search",
            Some(json!({"search_term": "alice"})),
        )
        .await;
    assert_eq!(
        found["results"][0]["user_id"], "@alice:org1.localhost",
        "{found}"
    );
    // Carol shares no room with anyone, but both Alices sit in a published room.
    let found = carol
        .ok(
            Method::POST,
            "/_matrix/client/v3/user_directory/search",
            Some(json!({"search_term": "ALI"})),
        )
        .await;
    assert_eq!(
        found["results"].as_array().map(Vec::len),
        Some(2),
        "{found}"
    );
    // LIKE wildcards in the term are taken literally.
    let found = bob
        .ok(
            Method::POST,
            "/_matrix/client/v3/user_directory/search",
            Some(json!({"search_term": "%"})),
        )
        .await;
    assert_eq!(found["results"], json!([]), "{found}");
}

async fn account_data_and_push_rules(alice: &User, room: &str) {
    let me = enc(&alice.user_id);
    let global = format!("/_matrix/client/v3/user/{me}/account_data/org.example.settings");
    alice
        .ok(Method::PUT, &global, Some(json!({"theme": "dark"})))
        .await;
    assert_eq!(
        alice.ok(Method::GET, &global, None).await,
        json!({"theme": "dark"})
    );
    let per_room = format!(
        "/_matrix/client/v3/user/{me}/rooms/{}/account_data/m.tag",
        enc(room)
    );
    alice
        .ok(
            Method::PUT,
            &per_room,
            Some(json!({"tags": {"m.favourite": {}}})),
        )
        .await;
    let sync = alice.sync(None, 0).await;
    let globals = sync["account_data"]["events"]
        .as_array()
        .expect("account data");
    assert!(
        globals.iter().any(|e| e["type"] == "org.example.settings"),
        "{sync}"
    );
    assert!(
        globals.iter().any(|e| e["type"] == "m.push_rules"),
        "{sync}"
    );
    let tags = room_of(&sync, "join", room)["account_data"]["events"].clone();
    assert_eq!(
        tags[0]["content"]["tags"],
        json!({"m.favourite": {}}),
        "{sync}"
    );

    // The tags API works on the same `m.tag` room account data.
    let tags = format!("/_matrix/client/v3/user/{me}/rooms/{}/tags", enc(room));
    alice
        .ok(
            Method::PUT,
            &format!("{tags}/u.work"),
            Some(json!({"order": 0.5})),
        )
        .await;
    let listed = alice.ok(Method::GET, &tags, None).await;
    assert_eq!(
        listed["tags"],
        json!({"m.favourite": {}, "u.work": {"order": 0.5}}),
        "{listed}"
    );
    alice
        .ok(Method::DELETE, &format!("{tags}/m.favourite"), None)
        .await;
    let listed = alice.ok(Method::GET, &tags, None).await;
    assert_eq!(
        listed["tags"],
        json!({"u.work": {"order": 0.5}}),
        "{listed}"
    );

    let rules = alice
        .ok(Method::GET, "/_matrix/client/v3/pushrules/", None)
        .await;
    assert!(
        rules["global"]["override"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["rule_id"] == ".m.rule.master")),
        "{rules}"
    );
    let rule = "/_matrix/client/v3/pushrules/global/content/lunch";
    alice
        .ok(
            Method::PUT,
            rule,
            Some(json!({"pattern": "lunch", "actions": ["notify"]})),
        )
        .await;
    assert_eq!(alice.ok(Method::GET, rule, None).await["pattern"], "lunch");
    alice
        .ok(
            Method::PUT,
            &format!("{rule}/enabled"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(
        alice
            .ok(Method::GET, &format!("{rule}/enabled"), None)
            .await["enabled"],
        false
    );
    alice
        .ok(
            Method::PUT,
            &format!("{rule}/actions"),
            Some(json!({"actions": []})),
        )
        .await;
    assert_eq!(
        alice
            .ok(Method::GET, &format!("{rule}/actions"), None)
            .await["actions"],
        json!([])
    );
    alice.ok(Method::DELETE, rule, None).await;
    assert_eq!(
        alice.call(Method::GET, rule, None).await.0,
        StatusCode::NOT_FOUND
    );
}

async fn receipts_unread_and_notifications(c: &Consortium, alice: &User, bob: &User, room: &str) {
    let start = alice.sync(None, 0).await;
    let since = start["next_batch"].as_str().expect("next_batch").to_owned();
    // Bob mentions Alice (an intentional mention): a highlight for her, counted on her node.
    let mention = bob
        .send_content(
            room,
            json!({
                "msgtype": "m.text",
                "body": "alice: lunch at noon?",
                "m.mentions": {"user_ids": [alice.user_id]},
            }),
        )
        .await;
    everywhere(c, &mention).await;
    let synced = alice
        .sync_until(Some(&since), 5, |v| !room_of(v, "join", room).is_null())
        .await;
    let counts = &room_of(&synced, "join", room)["unread_notifications"];
    assert!(counts["notification_count"].as_u64() >= Some(1), "{synced}");
    assert!(counts["highlight_count"].as_u64() >= Some(1), "{synced}");
    let notes = alice
        .ok(Method::GET, "/_matrix/client/v3/notifications", None)
        .await;
    assert_eq!(
        notes["notifications"][0]["event"]["event_id"], mention,
        "{notes}"
    );
    assert_eq!(notes["notifications"][0]["read"], false);
    let highlights = alice
        .ok(
            Method::GET,
            "/_matrix/client/v3/notifications?only=highlight",
            None,
        )
        .await;
    assert_eq!(highlights["notifications"][0]["event"]["event_id"], mention);

    // Alice reads it: her public receipt goes on the ledger, Bob sees it through org 2, and
    // her unread count drops to zero.
    let since = synced["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let bob_since = bob.sync(None, 0).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    alice
        .ok(
            Method::POST,
            &format!("/_matrix/client/v3/rooms/{}/read_markers", enc(room)),
            Some(json!({"m.fully_read": mention, "m.read": mention})),
        )
        .await;
    let seen = bob
        .sync_until(Some(&bob_since), 5, |v| {
            ephemeral_of(v, room, "m.receipt").is_some()
        })
        .await;
    let receipt = ephemeral_of(&seen, room, "m.receipt").expect("receipt");
    assert!(
        receipt["content"][&mention]["m.read"][&alice.user_id]["ts"].is_u64(),
        "{receipt}"
    );
    let after = alice
        .sync_until(Some(&since), 5, |v| !room_of(v, "join", room).is_null())
        .await;
    assert_eq!(
        room_of(&after, "join", room)["unread_notifications"]["notification_count"],
        0,
        "{after}"
    );
    let marked = alice
        .ok(
            Method::GET,
            &format!(
                "/_matrix/client/v3/user/{}/rooms/{}/account_data/m.fully_read",
                enc(&alice.user_id),
                enc(room)
            ),
            None,
        )
        .await;
    assert_eq!(marked["event_id"], mention);
    let notes = alice
        .ok(Method::GET, "/_matrix/client/v3/notifications", None)
        .await;
    assert_eq!(notes["notifications"][0]["read"], true, "{notes}");
}

async fn typing_and_presence(alice: &User, alice2: &User, bob: &User, room: &str) {
    let since = alice2.sync(None, 0).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let typing = format!(
        "/_matrix/client/v3/rooms/{}/typing/{}",
        enc(room),
        enc(&alice.user_id)
    );
    alice
        .ok(
            Method::PUT,
            &typing,
            Some(json!({"typing": true, "timeout": 30000})),
        )
        .await;
    let seen = alice2
        .sync_until(Some(&since), 5, |v| {
            ephemeral_of(v, room, "m.typing").is_some()
        })
        .await;
    let event = ephemeral_of(&seen, room, "m.typing").expect("typing");
    assert_eq!(event["content"]["user_ids"], json!([alice.user_id]));
    let since = seen["next_batch"].as_str().expect("next_batch").to_owned();
    alice
        .ok(Method::PUT, &typing, Some(json!({"typing": false})))
        .await;
    let stopped = alice2
        .sync_until(Some(&since), 5, |v| {
            ephemeral_of(v, room, "m.typing").is_some()
        })
        .await;
    assert_eq!(
        ephemeral_of(&stopped, room, "m.typing").expect("typing")["content"]["user_ids"],
        json!([])
    );

    let status = format!("/_matrix/client/v3/presence/{}/status", enc(&alice.user_id));
    alice
        .ok(
            Method::PUT,
            &status,
            Some(json!({"presence": "online", "status_msg": "at lunch"})),
        )
        .await;
    let got = alice2.ok(Method::GET, &status, None).await;
    assert_eq!(
        (got["presence"].as_str(), got["status_msg"].as_str()),
        (Some("online"), Some("at lunch"))
    );
    // Presence stays on its node: another organisation's user shows as offline.
    let remote = alice
        .ok(
            Method::GET,
            &format!("/_matrix/client/v3/presence/{}/status", enc(&bob.user_id)),
            None,
        )
        .await;
    assert_eq!(remote["presence"], "offline");
}

async fn context_pagination_and_forget(alice: &User, bob: &User, room: &str) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(alice.send(room, &format!("count {i}")).await);
    }
    let context = alice
        .ok(
            Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/context/{}?limit=4",
                enc(room),
                enc(&ids[2])
            ),
            None,
        )
        .await;
    assert_eq!(context["event"]["event_id"], ids[2]);
    assert_eq!(
        bodies(context["events_before"].as_array().expect("before")),
        ["count 1", "count 0"]
    );
    assert_eq!(
        bodies(context["events_after"].as_array().expect("after")),
        ["count 3", "count 4"]
    );
    assert!(context["state"].as_array().is_some_and(|s| !s.is_empty()));
    // Forwards from the context's start, only messages, two at a time.
    let start = context["start"].as_str().expect("start").to_owned();
    let filter = enc(&json!({"types": ["m.room.message"]}).to_string());
    let page = alice
        .ok(
            Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=f&limit=2&from={}&filter={filter}",
                enc(room),
                enc(&start)
            ),
            None,
        )
        .await;
    assert_eq!(
        bodies(page["chunk"].as_array().expect("chunk")),
        ["count 0", "count 1"]
    );
    let next = page["end"].as_str().expect("end");
    let page = alice
        .ok(
            Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=f&limit=2&from={}&filter={filter}",
                enc(room),
                enc(next)
            ),
            None,
        )
        .await;
    assert_eq!(
        bodies(page["chunk"].as_array().expect("chunk")),
        ["count 2", "count 3"]
    );

    // Bob leaves and forgets the room: it leaves his sync, and he may not forget twice in a
    // room he is in.
    let (status, body) = bob.room_action(room, "forget", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = bob.room_action(room, "leave", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = bob.room_action(room, "forget", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sync = bob
        .call(
            Method::GET,
            "/_matrix/client/v3/sync?filter=%7B%22room%22%3A%7B%22include_leave%22%3Atrue%7D%7D",
            None,
        )
        .await
        .1;
    assert!(room_of(&sync, "leave", room).is_null(), "{sync}");
    assert!(room_of(&sync, "join", room).is_null(), "{sync}");
    let joined = bob
        .ok(Method::GET, "/_matrix/client/v3/joined_rooms", None)
        .await;
    assert_eq!(joined["joined_rooms"], json!([]));
}

/// `/sync` honours the filter's `state` part: only the state types it admits, none for an
/// empty `types` list, and `not_types` removes types (as Synapse does).
async fn sync_state_filter(bob: &User, room: &str) {
    // With the newest event a message and a timeline of one event, all of the room's state
    // is in the state section (the state before the timeline).
    bob.send(room, "state filter probe").await;
    let state_of = |sync: &Value| -> Vec<String> {
        // An empty state section is left out of the answer.
        let mut kinds: Vec<String> = room_of(sync, "join", room)["state"]["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .map(|e| e["type"].as_str().expect("type").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        kinds.sort();
        kinds.dedup();
        kinds
    };
    let sync_with = |state: Value| async move {
        let filter = json!({"room": {"timeline": {"limit": 1}, "state": state}});
        let path = format!(
            "/_matrix/client/v3/sync?timeout=0&filter={}",
            enc(&filter.to_string())
        );
        bob.ok(Method::GET, &path, None).await
    };
    let all = sync_with(json!({})).await;
    assert_eq!(
        bodies(
            room_of(&all, "join", room)["timeline"]["events"]
                .as_array()
                .expect("timeline")
        ),
        ["state filter probe"],
        "{all}"
    );
    let all_kinds = state_of(&all);
    for kind in [
        "m.room.create",
        "m.room.name",
        "m.room.topic",
        "m.room.member",
    ] {
        assert!(all_kinds.iter().any(|k| k == kind), "{kind} missing: {all}");
    }
    let named = sync_with(json!({"types": ["m.room.name", "m.room.topic"]})).await;
    assert_eq!(state_of(&named), ["m.room.name", "m.room.topic"], "{named}");
    let globbed = sync_with(json!({"types": ["m.room.t*"]})).await;
    assert_eq!(state_of(&globbed), ["m.room.topic"], "{globbed}");
    let none = sync_with(json!({"types": []})).await;
    assert!(state_of(&none).is_empty(), "{none}");
    // The timeline is untouched by the state filter.
    assert_eq!(
        bodies(
            room_of(&none, "join", room)["timeline"]["events"]
                .as_array()
                .expect("timeline")
        ),
        ["state filter probe"],
        "{none}"
    );
    let without = sync_with(json!({"not_types": ["m.room.member"]})).await;
    let without_kinds = state_of(&without);
    assert!(
        !without_kinds.iter().any(|k| k == "m.room.member"),
        "{without}"
    );
    assert_eq!(without_kinds.len() + 1, all_kinds.len(), "{without}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn room_features_across_organisations() {
    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let alice2 = register(&c.org(1).base_url, "alice2").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(2).base_url, "carol").await;
    let room = alice
        .create_room(json!({
            "preset": "public_chat",
            "visibility": "public",
            "room_alias_name": "town",
            "name": "Town square",
            "topic": "everyone welcome",
        }))
        .await;
    bob.wait_for_alias("#town:org1.localhost").await;
    let (status, body) = bob.join("#town:org1.localhost").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = alice2.join(&room).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hello = alice.send(&room, "hello town").await;
    everywhere(&c, &hello).await;

    directory_and_aliases(&alice, &bob, &carol, &room).await;
    user_directory(&bob, &carol).await;
    sync_state_filter(&bob, &room).await;
    account_data_and_push_rules(&alice, &room).await;
    receipts_unread_and_notifications(&c, &alice, &bob, &room).await;
    typing_and_presence(&alice, &alice2, &bob, &room).await;
    context_pagination_and_forget(&alice, &bob, &room).await;
    c.shutdown().await;
}

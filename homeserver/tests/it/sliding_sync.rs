//! Simplified sliding sync (MSC4186) over the raw API, across two organisations: a list
//! window over rooms in recency order with `count`, per-room fields, required state with
//! `$ME` and `$LAZY`, a message from another organisation moving its room into the window
//! (woken long-poll), an incremental answer with only what is new, room subscriptions,
//! independent `conn_id`s, unknown positions (`M_UNKNOWN_POS`), many rooms, list filters
//! (`spaces` among them), rooms left while listed, extension scopes, and bad input.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{User, enc, register};
use crate::rooms::everywhere;

const PATH: &str = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

async fn slide(user: &User, query: &str, body: Value) -> (StatusCode, Value) {
    user.call(Method::POST, &format!("{PATH}{query}"), Some(body))
        .await
}

async fn slide_ok(user: &User, query: &str, body: Value) -> Value {
    let (status, v) = slide(user, query, body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

fn room_ids(answer: &Value) -> Vec<String> {
    let mut ids: Vec<String> = answer["rooms"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

fn bodies(room: &Value) -> Vec<String> {
    room["timeline"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn list(ranges: Value, timeline_limit: u64) -> Value {
    json!({"lists": {"all": {
        "ranges": ranges,
        "timeline_limit": timeline_limit,
        "required_state": [["m.room.name", ""], ["m.room.member", "$ME"], ["m.room.member", "$LAZY"]],
    }}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sliding_sync_lists_rooms_by_recency_across_organisations() {
    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let versions = alice
        .ok(Method::GET, "/_matrix/client/versions", None)
        .await;
    assert_eq!(
        versions["unstable_features"]["org.matrix.simplified_msc3575"],
        json!(true)
    );

    let mut rooms = Vec::new();
    for name in ["one", "two", "three"] {
        let room = alice
            .create_room(json!({"preset": "public_chat", "name": name}))
            .await;
        alice.send(&room, &format!("hello {name}")).await;
        rooms.push(room);
    }
    let (one, two, three) = (&rooms[0], &rooms[1], &rooms[2]);

    // The two most recent rooms, whole.
    let first = slide_ok(&alice, "", list(json!([[0, 1]]), 2)).await;
    assert_eq!(first["lists"]["all"]["count"], json!(3), "{first}");
    let mut expected = vec![two.clone(), three.clone()];
    expected.sort();
    assert_eq!(room_ids(&first), expected, "{first}");
    let r3 = &first["rooms"][three];
    assert_eq!(r3["initial"], json!(true));
    assert_eq!(r3["name"], json!("three"));
    assert_eq!(bodies(r3), vec!["hello three"]);
    assert_eq!(r3["joined_count"], json!(1));
    assert!(
        r3["bump_stamp"].as_u64() > first["rooms"][two]["bump_stamp"].as_u64(),
        "{first}"
    );
    let required: Vec<(String, String)> = r3["required_state"]
        .as_array()
        .expect("required_state")
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_owned(),
                e["state_key"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        required.contains(&("m.room.name".into(), String::new())),
        "{required:?}"
    );
    assert!(
        required.contains(&("m.room.member".into(), alice.user_id.clone())),
        "{required:?}"
    );
    assert!(
        !required.iter().any(|(t, _)| t == "m.room.join_rules"),
        "{required:?}"
    );
    let pos = first["pos"].as_str().expect("pos").to_owned();

    // Bob, on org2, joins room one and speaks: it moves into the window, new to the
    // connection, with Bob's membership as lazy-loaded state.
    bob.join_when_known(one).await;
    let moved = bob.send(one, "hello from org2").await;
    everywhere(&c, &moved).await;
    let mut pos = pos;
    let mut seen = None;
    for _ in 0..10 {
        let next = slide_ok(
            &alice,
            &format!("?pos={pos}&timeout=10000"),
            list(json!([[0, 1]]), 2),
        )
        .await;
        pos = next["pos"].as_str().expect("pos").to_owned();
        if bodies(&next["rooms"][one]).contains(&"hello from org2".to_owned()) {
            seen = Some(next);
            break;
        }
    }
    let next = seen.expect("room one moved into the window");
    let r1 = &next["rooms"][one];
    assert_eq!(r1["initial"], json!(true), "{next}");
    assert_eq!(r1["joined_count"], json!(2));
    assert!(
        r1["required_state"]
            .as_array()
            .expect("state")
            .iter()
            .any(|e| e["state_key"] == json!(bob.user_id)),
        "{r1}"
    );

    // An incremental answer: only what is new in a room the connection has.
    let latest = alice.send(one, "and again").await;
    everywhere(&c, &latest).await;
    let inc = slide_ok(
        &alice,
        &format!("?pos={pos}&timeout=10000"),
        list(json!([[0, 1]]), 2),
    )
    .await;
    let r1 = &inc["rooms"][one];
    assert_eq!(bodies(r1), vec!["and again"], "{inc}");
    assert!(r1.get("initial").is_none(), "{inc}");
    assert_eq!(r1["num_live"], json!(1));

    // A subscription on another connection; positions are per connection.
    let sub = slide_ok(
        &alice,
        "",
        json!({"conn_id": "room", "room_subscriptions": {one.clone(): {"timeline_limit": 1, "required_state": []}}}),
    )
    .await;
    assert_eq!(room_ids(&sub), vec![one.clone()]);
    assert_eq!(bodies(&sub["rooms"][one]), vec!["and again"]);
    let sub_pos = sub["pos"].as_str().expect("pos");
    let (status, v) = slide(&alice, &format!("?pos={sub_pos}"), list(json!([[0, 1]]), 1)).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_UNKNOWN_POS")),
        "{v}"
    );
    for bad in ["999999", "nope"] {
        let (status, v) = slide(&alice, &format!("?pos={bad}"), list(json!([[0, 1]]), 1)).await;
        assert_eq!(
            (status, v["errcode"].as_str()),
            (StatusCode::BAD_REQUEST, Some("M_UNKNOWN_POS")),
            "{v}"
        );
    }

    // Bad input.
    for (body, errcode) in [
        (list(json!([[-1, 2]]), 1), "M_BAD_JSON"),
        (list(json!([[5, 2]]), 1), "M_INVALID_PARAM"),
        (
            json!({"lists": {"all": {"ranges": [[0, 1]], "timeline_limit": "x"}}}),
            "M_BAD_JSON",
        ),
        (json!({"lists": 3}), "M_BAD_JSON"),
    ] {
        let (status, v) = slide(&alice, "", body.clone()).await;
        assert_eq!(
            (status, v["errcode"].as_str()),
            (StatusCode::BAD_REQUEST, Some(errcode)),
            "{body}: {v}"
        );
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_window_of_twenty_out_of_three_hundred_rooms() {
    let c = Consortium::start(1, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let mut rooms = Vec::new();
    for i in 0..300 {
        rooms.push(
            alice
                .create_room(json!({"name": format!("room {i}")}))
                .await,
        );
    }
    // A huge timeline limit is capped, not refused.
    let answer = slide_ok(&alice, "", list(json!([[0, 19]]), 1_000_000)).await;
    for room in answer["rooms"].as_object().expect("rooms").values() {
        let events = room["timeline"].as_array().map_or(0, Vec::len);
        assert!((1..=100).contains(&events), "{events} timeline events");
    }
    assert_eq!(answer["lists"]["all"]["count"], json!(300));
    let mut newest: Vec<String> = rooms[280..].to_vec();
    newest.sort();
    assert_eq!(room_ids(&answer), newest);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sliding_sync_extensions() {
    let c = Consortium::start(2, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    // Typing stays on a node: Carol, Alice's colleague, types.
    let carol = register(&c.org(1).base_url, "carol").await;
    let room = alice
        .create_room(json!({"preset": "public_chat", "name": "ext"}))
        .await;
    bob.join_when_known(&room).await;
    carol.join_when_known(&room).await;
    let message = bob.send(&room, "read me").await;
    everywhere(&c, &message).await;
    alice
        .ok(
            Method::PUT,
            &format!(
                "/_matrix/client/v3/user/{}/account_data/org.example.setting",
                enc(&alice.user_id)
            ),
            Some(json!({"on": true})),
        )
        .await;
    // To Alice's device by id: `*` means the devices whose keys are on the ledger.
    let device = alice
        .ok(Method::GET, "/_matrix/client/v3/account/whoami", None)
        .await["device_id"]
        .as_str()
        .expect("device_id")
        .to_owned();
    bob.ok(
        Method::PUT,
        "/_matrix/client/v3/sendToDevice/org.example.ping/t1",
        Some(json!({"messages": {alice.user_id.clone(): {device: {"n": 1}}}})),
    )
    .await;
    let everything = |to_device_since: Option<&str>| {
        let mut to_device = json!({"enabled": true});
        if let Some(s) = to_device_since {
            to_device["since"] = json!(s);
        }
        let mut body = list(json!([[0, 9]]), 1);
        body["extensions"] = json!({
            "to_device": to_device,
            "e2ee": {"enabled": true},
            "account_data": {"enabled": true},
            "receipts": {"enabled": true},
            "typing": {"enabled": true},
        });
        body
    };
    // The first answer has the global account data; Bob's ping arrives once Alice's node
    // has applied it.
    let first = slide_ok(&alice, "", everything(None)).await;
    let ext = &first["extensions"];
    assert!(
        ext["account_data"]["global"]
            .as_array()
            .expect("global")
            .iter()
            .any(|e| e["type"] == "org.example.setting"),
        "{first}"
    );
    assert!(
        ext["e2ee"]["device_unused_fallback_key_types"].is_array(),
        "{first}"
    );
    let mut answer = first;
    for _ in 0..20 {
        let ext = &answer["extensions"];
        if ext["to_device"]["events"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
        {
            break;
        }
        let pos = answer["pos"].as_str().expect("pos").to_owned();
        let since = ext["to_device"]["next_batch"].as_str().map(str::to_owned);
        answer = slide_ok(
            &alice,
            &format!("?pos={pos}&timeout=1000"),
            everything(since.as_deref()),
        )
        .await;
    }
    let ext = &answer["extensions"];
    let pings = ext["to_device"]["events"]
        .as_array()
        .expect("to_device events");
    assert_eq!(pings.len(), 1, "{answer}");
    assert_eq!(pings[0]["type"], json!("org.example.ping"));
    assert_eq!(pings[0]["sender"], json!(bob.user_id));
    let since = ext["to_device"]["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let pos = answer["pos"].as_str().expect("pos").to_owned();

    // Carol's typing and Alice's receipt reach the next answer; the ping is not repeated.
    carol
        .ok(
            Method::PUT,
            &format!(
                "/_matrix/client/v3/rooms/{}/typing/{}",
                enc(&room),
                enc(&carol.user_id)
            ),
            Some(json!({"typing": true, "timeout": 30000})),
        )
        .await;
    alice
        .ok(
            Method::POST,
            &format!(
                "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
                enc(&room),
                enc(&message)
            ),
            Some(json!({})),
        )
        .await;
    let mut pos = pos;
    let (mut typing, mut receipt) = (false, false);
    for _ in 0..10 {
        let next = slide_ok(
            &alice,
            &format!("?pos={pos}&timeout=5000"),
            everything(Some(&since)),
        )
        .await;
        pos = next["pos"].as_str().expect("pos").to_owned();
        let ext = &next["extensions"];
        assert!(
            ext["to_device"]["events"]
                .as_array()
                .is_none_or(Vec::is_empty),
            "{next}"
        );
        typing |= ext["typing"]["rooms"][&room]["content"]["user_ids"] == json!([carol.user_id]);
        receipt |= ext["receipts"]["rooms"][&room]["content"][&message]["m.read"]
            .get(&alice.user_id)
            .is_some();
        if typing && receipt {
            break;
        }
    }
    assert!(typing && receipt, "typing {typing}, receipt {receipt}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_filters_heroes_and_invites_sqlite() {
    list_filters_heroes_and_invites(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_filters_heroes_and_invites_postgres() {
    list_filters_heroes_and_invites(Db::Postgres).await;
}

async fn list_filters_heroes_and_invites(db: Db) {
    let c = Consortium::start(1, db, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let carol = register(&c.org(1).base_url, "carol").await;
    let plain = alice
        .create_room(json!({"preset": "public_chat", "name": "plain"}))
        .await;
    let space = alice
        .create_room(json!({"preset": "public_chat", "name": "space", "creation_content": {"type": "m.space"}}))
        .await;
    let secret = alice
        .create_room(json!({
            "preset": "public_chat",
            "name": "secret",
            "initial_state": [{"type": "m.room.encryption", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
        }))
        .await;
    // A direct chat with Carol, without a name, listed in Alice's m.direct.
    let dm = alice
        .create_room(
            json!({"preset": "trusted_private_chat", "is_direct": true, "invite": [carol.user_id]}),
        )
        .await;
    let (status, v) = carol.join(&dm).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    alice
        .ok(
            Method::PUT,
            &format!(
                "/_matrix/client/v3/user/{}/account_data/m.direct",
                enc(&alice.user_id)
            ),
            Some(json!({carol.user_id.clone(): [dm]})),
        )
        .await;
    // Carol invites Alice to her room.
    let invite = carol
        .create_room(
            json!({"preset": "private_chat", "name": "carol's", "invite": [alice.user_id]}),
        )
        .await;

    let body = json!({"lists": {
        "all": {"ranges": [[0, 9]], "timeline_limit": 1},
        "invites": {"ranges": [[0, 9]], "timeline_limit": 1, "filters": {"is_invite": true}},
        "encrypted": {"ranges": [[0, 9]], "timeline_limit": 1, "filters": {"is_encrypted": true}},
        "dms": {"ranges": [[0, 9]], "timeline_limit": 1, "filters": {"is_dm": true}},
        "spaces": {"ranges": [[0, 9]], "timeline_limit": 1, "filters": {"room_types": ["m.space"]}},
        "not_spaces": {"ranges": [[0, 9]], "timeline_limit": 1, "filters": {"not_room_types": ["m.space"]}},
    }});
    let answer = slide_ok(&alice, "", body).await;
    let count = |list: &str| answer["lists"][list]["count"].as_u64();
    // The test servers do not encrypt by default: only "secret" is encrypted.
    assert_eq!(count("all"), Some(5), "{answer}");
    assert_eq!(count("invites"), Some(1), "{answer}");
    assert_eq!(count("encrypted"), Some(1), "{answer}");
    assert_eq!(count("dms"), Some(1), "{answer}");
    assert_eq!(count("spaces"), Some(1), "{answer}");
    assert_eq!(count("not_spaces"), Some(4), "{answer}");
    for (room, name) in [(&plain, "plain"), (&space, "space"), (&secret, "secret")] {
        assert_eq!(answer["rooms"][room]["name"], json!(name), "{answer}");
        assert_eq!(answer["rooms"][room]["is_dm"], json!(false));
    }
    // The invite: its stripped state, with the room's name; not a timeline.
    let invited = &answer["rooms"][&invite];
    assert_eq!(invited["name"], json!("carol's"), "{invited}");
    assert!(
        invited["invite_state"]
            .as_array()
            .expect("invite_state")
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["state_key"] == json!(alice.user_id)),
        "{invited}"
    );
    // The unnamed direct chat: Carol as its hero; it is a DM.
    let direct = &answer["rooms"][&dm];
    assert_eq!(direct["is_dm"], json!(true), "{direct}");
    assert_eq!(
        direct["heroes"][0]["user_id"],
        json!(carol.user_id),
        "{direct}"
    );
    assert_eq!(
        direct["heroes"][0]["displayname"],
        json!("carol"),
        "{direct}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spaces_filter_left_rooms_and_extension_scope_sqlite() {
    spaces_filter_left_rooms_and_extension_scope(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spaces_filter_left_rooms_and_extension_scope_postgres() {
    spaces_filter_left_rooms_and_extension_scope(Db::Postgres).await;
}

async fn spaces_filter_left_rooms_and_extension_scope(db: Db) {
    let c = Consortium::start(1, db, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let carol = register(&c.org(1).base_url, "carol").await;
    let space = alice
        .create_room(json!({"preset": "public_chat", "name": "space", "creation_content": {"type": "m.space"}}))
        .await;
    let inside = alice
        .create_room(json!({"preset": "public_chat", "name": "inside"}))
        .await;
    let unlinked = alice
        .create_room(json!({"preset": "public_chat", "name": "unlinked"}))
        .await;
    let outside = alice
        .create_room(json!({"preset": "public_chat", "name": "outside"}))
        .await;
    // A child with a `via` counts; one whose `via` is empty has been removed.
    for (child, via) in [(&inside, json!(["example.org"])), (&unlinked, json!([]))] {
        let (status, v) = alice
            .put_state(&space, "m.space.child", child, json!({"via": via}))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    // Carol's space, which Alice is not in, names Alice's room: it does not count.
    let carols = carol
        .create_room(json!({"preset": "public_chat", "creation_content": {"type": "m.space"}}))
        .await;
    let (status, v) = carol
        .put_state(
            &carols,
            "m.space.child",
            &outside,
            json!({"via": ["example.org"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");

    let body = json!({"lists": {
        "all": {"ranges": [[0, 9]], "timeline_limit": 1},
        "in_space": {"ranges": [[0, 9]], "timeline_limit": 1, "filters": {"spaces": [space]}},
        "in_carols": {"ranges": [[0, 9]], "timeline_limit": 1, "filters": {"spaces": [carols]}},
    }});
    let answer = slide_ok(&alice, "", body.clone()).await;
    assert_eq!(answer["lists"]["all"]["count"], json!(4), "{answer}");
    assert_eq!(answer["lists"]["in_space"]["count"], json!(1), "{answer}");
    assert_eq!(answer["lists"]["in_carols"]["count"], json!(0), "{answer}");
    let (status, v) = slide(
        &alice,
        "",
        json!({"lists": {"l": {"ranges": [[0, 1]], "filters": {"spaces": "not a list"}}}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["errcode"], json!("M_BAD_JSON"), "{v}");

    // Alice leaves "outside": the next answer has it once more, with her leave, so a client
    // drops it; after that it is gone from the list.
    let pos = answer["pos"].as_str().expect("pos").to_owned();
    let (status, v) = alice.room_action(&outside, "leave", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let mut pos = pos;
    let mut left = Value::Null;
    for _ in 0..10 {
        let next = slide_ok(&alice, &format!("?pos={pos}&timeout=5000"), body.clone()).await;
        pos = next["pos"].as_str().expect("pos").to_owned();
        if let Some(room) = next["rooms"].get(&outside) {
            left = room.clone();
            break;
        }
    }
    let timeline = left["timeline"]
        .as_array()
        .expect("timeline of the left room");
    assert!(
        timeline.iter().any(|e| e["type"] == "m.room.member"
            && e["state_key"] == json!(alice.user_id)
            && e["content"]["membership"] == "leave"),
        "{left}"
    );
    let after = slide_ok(&alice, &format!("?pos={pos}"), body.clone()).await;
    assert_eq!(after["lists"]["all"]["count"], json!(3), "{after}");
    assert!(after["rooms"].get(&outside).is_none(), "{after}");

    // Extension scope: Carol types in "inside"; typing is answered for the rooms of the
    // lists the extension names (all when it names none), and of its subscriptions.
    let (status, v) = carol.join(&inside).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    carol
        .ok(
            Method::PUT,
            &format!(
                "/_matrix/client/v3/rooms/{}/typing/{}",
                enc(&inside),
                enc(&carol.user_id)
            ),
            Some(json!({"typing": true, "timeout": 30000})),
        )
        .await;
    let scoped = |conn: &str, typing: Value, subscribe: bool| {
        let mut body = json!({
            "conn_id": conn,
            "lists": {"all": {"ranges": [[0, 9]], "timeline_limit": 1}},
            "extensions": {"typing": typing},
        });
        if subscribe {
            body["room_subscriptions"] = json!({inside.clone(): {"timeline_limit": 1}});
        }
        body
    };
    let typing_in = |answer: &Value| {
        answer["extensions"]["typing"]["rooms"][&inside]["content"]["user_ids"]
            == json!([carol.user_id])
    };
    let every = slide_ok(&alice, "", scoped("every", json!({"enabled": true}), false)).await;
    assert!(typing_in(&every), "{every}");
    let named = json!({"enabled": true, "lists": ["all"]});
    let by_name = slide_ok(&alice, "", scoped("named", named, false)).await;
    assert!(typing_in(&by_name), "{by_name}");
    let other = json!({"enabled": true, "lists": ["other"], "rooms": []});
    let none = slide_ok(&alice, "", scoped("other", other, true)).await;
    assert!(!typing_in(&none), "{none}");
    let sub = json!({"enabled": true, "lists": [], "rooms": [inside.clone()]});
    let by_sub = slide_ok(&alice, "", scoped("sub", sub, true)).await;
    assert!(typing_in(&by_sub), "{by_sub}");
    c.shutdown().await;
}

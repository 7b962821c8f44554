//! Contacts across organisations over raw HTTP: a request on org1 accepted on org2 is the
//! same relationship in every node's copy of the ledger; unbinding removes it everywhere;
//! every wrong step gets a precise Matrix error and writes nothing; requests racing each
//! other in both directions end bound on every node; a step forged for another
//! organisation's user is refused by every node; `/sync` carries the relationships as the
//! `org.consort.contacts` account data event, and the organisation's admin sees them. Each
//! organisation's policy (`cross_org`, `all`, `open`) decides who may invite its users, on
//! every node; a direct chat is a contact request that joining binds and rejecting declines.

use std::collections::BTreeMap;
use std::time::Duration;

use consort_bridge::{Contact, ContactAction, Record, RoomEvent};
use consort_homeserver::config::RegistrationMode;
use consort_homeserver::services::rooms::send::{Draft, build};
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{User, enc, register};

const API: &str = "/_matrix/client/unstable/org.consort.contacts";

/// Every node's rows for the pair, as `(user, other, state)`, in a stable order.
async fn rows(c: &Consortium, org: usize, a: &str, b: &str) -> Vec<(String, String, String)> {
    sqlx::query_as::<_, (String, String, String)>(
        "SELECT user_id, other, state FROM bridge_contacts \
         WHERE (user_id = $1 AND other = $2) OR (user_id = $2 AND other = $1) ORDER BY user_id",
    )
    .bind(a)
    .bind(b)
    .fetch_all(&c.org(org).node.state.db.pool)
    .await
    .expect("contact rows")
}

/// Waits until every node of `c` holds `want` for the pair.
async fn everywhere(c: &Consortium, a: &str, b: &str, want: &[(&str, &str, &str)]) {
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(x, y, s)| (x.to_string(), y.to_string(), s.to_string()))
        .collect();
    for org in 1..=c.orgs.len() {
        let mut got = Vec::new();
        for _ in 0..100 {
            got = rows(c, org, a, b).await;
            if got == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(got, want, "org{org}'s copy of the ledger");
    }
}

async fn outcomes(c: &Consortium, org: usize) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM bridge_outcomes")
        .fetch_one(&c.org(org).node.state.db.pool)
        .await
        .expect("outcomes")
}

async fn step(user: &User, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    user.call(method, &format!("{API}{path}"), body).await
}

/// A step that must fail: who, how, where, with what, and the expected status and errcode.
type WrongStep<'a> = (
    &'a User,
    Method,
    String,
    Option<Value>,
    StatusCode,
    &'static str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contacts_are_bound_and_unbound_on_the_ledger() {
    contacts_across_organisations(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contacts_are_bound_and_unbound_on_the_ledger_postgres() {
    contacts_across_organisations(Db::Postgres).await;
}

async fn contacts_across_organisations(db: Db) {
    let c = Consortium::start(3, db, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(3).base_url, "carol").await;
    let (a, b) = (alice.user_id.as_str(), bob.user_id.as_str());

    // Alice asks Bob: pending on every node; Bob sees it on his node, Alice on hers.
    let started = std::time::Instant::now();
    let (status, answer) = step(
        &alice,
        Method::POST,
        "/requests",
        Some(json!({"user_id": b})),
    )
    .await;
    let answered = started.elapsed();
    assert_eq!(
        (status, answer["state"].clone()),
        (StatusCode::OK, json!("pending")),
        "{answer}"
    );
    everywhere(&c, a, b, &[(a, b, "outgoing"), (b, a, "incoming")]).await;
    eprintln!(
        "contact request on org1: answered in {answered:?}, in every node's copy after {:?}",
        started.elapsed()
    );
    let (_, requests) = step(&bob, Method::GET, "/requests", None).await;
    assert_eq!(requests["incoming"][0]["user_id"], json!(a), "{requests}");
    assert!(requests["incoming"][0]["height"].as_u64().unwrap_or(0) > 0);
    assert_eq!(requests["outgoing"], json!([]));
    let (_, requests) = step(&alice, Method::GET, "/requests", None).await;
    assert_eq!(requests["outgoing"][0]["user_id"], json!(b), "{requests}");

    // Wrong steps: a precise error each, nothing on the ledger.
    let before: Vec<i64> = all_outcomes(&c).await;
    let cases: Vec<WrongStep> = vec![
        (
            &alice,
            Method::POST,
            "/requests".into(),
            Some(json!({"user_id": a})),
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
        ),
        (
            &alice,
            Method::POST,
            "/requests".into(),
            Some(json!({"user_id": "@nobody:org2.localhost"})),
            StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
        ),
        (
            &alice,
            Method::POST,
            "/requests".into(),
            Some(json!({"user_id": "not a user"})),
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
        ),
        (
            &alice,
            Method::POST,
            "/requests".into(),
            Some(json!({"user_id": 42})),
            StatusCode::BAD_REQUEST,
            "M_BAD_JSON",
        ),
        (
            &alice,
            Method::POST,
            "/requests".into(),
            Some(json!({})),
            StatusCode::BAD_REQUEST,
            "M_BAD_JSON",
        ),
        (
            &alice,
            Method::POST,
            "/requests".into(),
            Some(json!({"user_id": b})),
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
        ),
        (
            &alice,
            Method::POST,
            format!("/requests/{}/accept", enc(b)),
            None,
            StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
        ),
        (
            &carol,
            Method::POST,
            format!("/requests/{}/decline", enc(a)),
            None,
            StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
        ),
        (
            &carol,
            Method::DELETE,
            format!("/contacts/{}", enc(a)),
            Some(json!({"confirm": true})),
            StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
        ),
    ];
    for (user, method, path, body, status, code) in cases {
        let (got, answer) = step(user, method.clone(), &path, body.clone()).await;
        assert_eq!(
            (got, answer["errcode"].as_str()),
            (status, Some(code)),
            "{method} {path} {body:?}: {answer}"
        );
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
    }
    let (status, answer) = alice
        .call_raw(
            Method::POST,
            &format!("{API}/requests"),
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(
        (status, answer["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_NOT_JSON"))
    );
    assert_eq!(
        all_outcomes(&c).await,
        before,
        "no wrong step reached the ledger"
    );

    // Bob accepts on org2: bound everywhere, in both lists, and in Alice's /sync.
    let first = alice.sync(None, 0).await;
    let since = first["next_batch"].as_str().expect("token").to_owned();
    let (status, answer) = step(
        &bob,
        Method::POST,
        &format!("/requests/{}/accept", enc(a)),
        None,
    )
    .await;
    assert_eq!(
        (status, answer["state"].clone()),
        (StatusCode::OK, json!("bound")),
        "{answer}"
    );
    everywhere(&c, a, b, &[(a, b, "bound"), (b, a, "bound")]).await;
    let (_, list) = step(&alice, Method::GET, "/contacts", None).await;
    assert_eq!(list["contacts"][0]["user_id"], json!(b), "{list}");
    let (_, list) = step(&bob, Method::GET, "/contacts", None).await;
    assert_eq!(list["contacts"][0]["user_id"], json!(a), "{list}");
    let mut seen = Value::Null;
    let mut token = since;
    for _ in 0..40 {
        let sync = alice.sync(Some(&token), 5000).await;
        token = sync["next_batch"].as_str().expect("token").to_owned();
        if let Some(event) = sync["account_data"]["events"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["type"] == "org.consort.contacts"))
        {
            seen = event["content"].clone();
            break;
        }
    }
    assert_eq!(
        seen["contacts"][0]["user_id"],
        json!(b),
        "alice's sync: {seen}"
    );

    // Bob's admin on org2 sees the relationship and its history; org1's admin may not ask.
    let admin2 = &c.org(2).admin.access_token;
    let answer: Value = reqwest::Client::new()
        .get(format!(
            "{}/_synapse/admin/v1/users/{}/contacts",
            c.org(2).base_url,
            enc(b)
        ))
        .bearer_auth(admin2)
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("admin json");
    assert_eq!(answer["contacts"][0]["user_id"], json!(a), "{answer}");
    let actions: Vec<&str> = answer["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|s| s["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions, ["request", "accept"], "{answer}");
    assert!(answer["history"][1]["ts"].as_u64().unwrap_or(0) > 0);
    let status = reqwest::Client::new()
        .get(format!(
            "{}/_synapse/admin/v1/users/{}/contacts",
            c.org(1).base_url,
            enc(b)
        ))
        .bearer_auth(&c.org(1).admin.access_token)
        .send()
        .await
        .expect("admin")
        .status();
    assert_eq!(status, StatusCode::BAD_REQUEST, "only local users");

    // Unbinding needs `confirm: true`; then the contact is gone everywhere.
    let path = format!("/contacts/{}", enc(a));
    let (status, answer) = step(&bob, Method::DELETE, &path, None).await;
    assert_eq!(
        (status, answer["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_MISSING_PARAM")),
        "{answer}"
    );
    assert!(
        answer["error"].as_str().unwrap_or("").contains("confirm"),
        "{answer}"
    );
    let (status, answer) = step(&bob, Method::DELETE, &path, Some(json!({"confirm": false}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    everywhere(&c, a, b, &[(a, b, "bound"), (b, a, "bound")]).await;
    let (status, answer) = step(&bob, Method::DELETE, &path, Some(json!({"confirm": true}))).await;
    assert_eq!(
        (status, answer["state"].clone()),
        (StatusCode::OK, json!("none")),
        "{answer}"
    );
    everywhere(&c, a, b, &[]).await;

    // Racing requests in both directions: one outcome, bound, on every node.
    let c3 = carol.user_id.as_str();
    let (x, y) = tokio::join!(
        step(
            &alice,
            Method::POST,
            "/requests",
            Some(json!({"user_id": c3}))
        ),
        step(
            &carol,
            Method::POST,
            "/requests",
            Some(json!({"user_id": a}))
        ),
    );
    assert_eq!(x.0, StatusCode::OK, "{}", x.1);
    assert!(
        y.0 == StatusCode::OK || y.0 == StatusCode::FORBIDDEN,
        "{}",
        y.1
    );
    everywhere(&c, a, c3, &[(a, c3, "bound"), (c3, a, "bound")]).await;

    // A step forged by org1 for org2's user, put on the ledger directly: every node refuses it.
    let forged = Record::Contact(Contact {
        user_id: b.to_owned(),
        other: c3.to_owned(),
        action: ContactAction::Request,
    });
    let err = c
        .org(1)
        .node
        .state
        .chain()
        .expect("chain")
        .submit_record(&forged)
        .await
        .expect_err("the ledger refuses a step for another organisation's user");
    assert!(err.to_string().contains("does not belong"), "{err}");
    everywhere(&c, b, c3, &[]).await;

    // A replayed step: the same record twice; the second is refused on every node and the
    // pair is as the first left it.
    let ledger = c.org(2).node.state.chain().expect("chain");
    let request = Record::Contact(Contact {
        user_id: b.to_owned(),
        other: c3.to_owned(),
        action: ContactAction::Request,
    });
    ledger.submit_record(&request).await.expect("first request");
    let err = ledger
        .submit_record(&request)
        .await
        .expect_err("the replay is refused");
    assert!(err.to_string().contains("already pending"), "{err}");
    everywhere(&c, b, c3, &[(b, c3, "outgoing"), (c3, b, "incoming")]).await;

    // The operator's view: `consort admin contacts` on org2's database.
    let node = &c.org(2).config;
    let config = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(
        config.path(),
        format!(
            "server_name = \"{}\"\ndata_dir = \"{}\"\ndatabase_url = \"{}\"\n",
            node.server_name,
            node.data_dir,
            node.database_url()
        ),
    )
    .expect("config written");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_consort"))
        .args(["admin", "contacts", "--config"])
        .arg(config.path())
        .arg(b)
        .output()
        .expect("consort runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("outgoing\t") && l.contains(c3)),
        "{stdout}"
    );
    for step in [
        format!("{a} request {b} -> pending"),
        format!("{b} accept {a} -> bound"),
        format!("{b} unbind {a} -> none"),
    ] {
        assert!(stdout.contains(&step), "{step:?} in:\n{stdout}");
    }
    c.shutdown().await;
}

/// Every node's count of ledger outcomes.
async fn all_outcomes(c: &Consortium) -> Vec<i64> {
    let mut out = Vec::new();
    for org in 1..=c.orgs.len() {
        out.push(outcomes(c, org).await);
    }
    out
}

/// `POST /createRoom` for a direct chat with `other`, as Element creates one.
async fn direct_chat(user: &User, other: &User) -> (StatusCode, Value) {
    let body =
        json!({"is_direct": true, "preset": "trusted_private_chat", "invite": [other.user_id]});
    user.call(Method::POST, "/_matrix/client/v3/createRoom", Some(body))
        .await
}

async fn invite(user: &User, room: &str, other: &User) -> (StatusCode, Value) {
    user.room_action(room, "invite", json!({"user_id": other.user_id}))
        .await
}

/// Each organisation's policy decides who may invite its users, on every node: org1 keeps the
/// default `cross_org`, org2 has `all`, org3 `open`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_organisations_policy_decides_who_may_invite_its_users() {
    let app = BTreeMap::from([
        ("contacts_policy.org2".to_owned(), "all".to_owned()),
        ("contacts_policy.org3".to_owned(), "open".to_owned()),
    ]);
    let c = Consortium::start_with_app(3, Db::Sqlite, RegistrationMode::Open, app, |_| {}).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let anna = register(&c.org(1).base_url, "anna").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let bert = register(&c.org(2).base_url, "bert").await;
    let carol = register(&c.org(3).base_url, "carol").await;
    let forbidden = |(status, answer): (StatusCode, Value)| {
        assert_eq!(
            (status, answer["errcode"].as_str()),
            (StatusCode::FORBIDDEN, Some("M_FORBIDDEN")),
            "{answer}"
        );
        answer
    };
    let ok = |(status, answer): (StatusCode, Value)| {
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    };

    // cross_org (alice, org1): bob of org2 may not invite her into a group room...
    let group = bob.create_room(json!({"name": "bob's group"})).await;
    let answer = forbidden(invite(&bob, &group, &alice).await);
    assert!(
        answer["error"].as_str().unwrap_or("").contains("cross_org"),
        "{answer}"
    );
    // ... nor with the room's creation...
    forbidden(
        bob.call(
            Method::POST,
            "/_matrix/client/v3/createRoom",
            Some(json!({"invite": [alice.user_id]})),
        )
        .await,
    );
    // ... nor past his node's own check, on the ledger directly: every node refuses it.
    let state = &c.org(2).node.state;
    let pdu = build(
        state,
        &ruma::UserId::parse(&bob.user_id).expect("user id"),
        &ruma::RoomId::parse(&group).expect("room id"),
        Draft {
            kind: "m.room.member".into(),
            state_key: Some(alice.user_id.clone()),
            content: json!({"membership": "invite"}),
        },
    )
    .await
    .expect("build");
    let record = Record::RoomEvent(RoomEvent { pdu: pdu.json });
    let err = state
        .chain()
        .expect("chain")
        .submit_record(&record)
        .await
        .expect_err("every node refuses the invite");
    assert!(err.to_string().contains("contact"), "{err}");
    // ... while her colleague anna may.
    let colleagues = anna.create_room(json!({"name": "org1 only"})).await;
    ok(invite(&anna, &colleagues, &alice).await);

    // A first direct chat is the contact request; a second one before the answer is refused.
    let dm = ok(direct_chat(&bob, &alice).await)["room_id"]
        .as_str()
        .expect("room id")
        .to_owned();
    everywhere(
        &c,
        &bob.user_id,
        &alice.user_id,
        &[
            (&alice.user_id, &bob.user_id, "incoming"),
            (&bob.user_id, &alice.user_id, "outgoing"),
        ],
    )
    .await;
    forbidden(direct_chat(&bob, &alice).await);
    forbidden(invite(&bob, &group, &alice).await);
    // Alice joining the direct chat binds them; then bob's group invite goes through.
    alice.accept_invite(&dm).await;
    everywhere(
        &c,
        &bob.user_id,
        &alice.user_id,
        &[
            (&alice.user_id, &bob.user_id, "bound"),
            (&bob.user_id, &alice.user_id, "bound"),
        ],
    )
    .await;
    ok(invite(&bob, &group, &alice).await);

    // all (org2): even bert, bob's colleague, needs to be a contact; rejecting a direct chat
    // declines the request.
    let berts = bert.create_room(json!({"name": "bert's"})).await;
    forbidden(invite(&bert, &berts, &bob).await);
    let dm = ok(direct_chat(&bert, &bob).await)["room_id"]
        .as_str()
        .expect("room id")
        .to_owned();
    bob.sync_until(None, 10, |v| !v["rooms"]["invite"][&dm].is_null())
        .await;
    ok(bob.room_action(&dm, "leave", json!({})).await);
    everywhere(&c, &bert.user_id, &bob.user_id, &[]).await;

    // open (org3): anyone invites carol.
    let alices = alice.create_room(json!({"name": "alice's"})).await;
    ok(invite(&alice, &alices, &carol).await);

    // org2's admin opens up (an OrgPolicy record of org2): bert may invite bob now.
    let admin_api = |org: usize| {
        let http = reqwest::Client::new();
        let url = format!("{}/_consort/admin/v1/policy/contacts", c.org(org).base_url);
        let token = c.org(org).admin.access_token.clone();
        async move {
            let got: Value = http
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            let bad = http
                .put(&url)
                .bearer_auth(&token)
                .json(&json!({"value": "sometimes"}))
                .send()
                .await
                .expect("put");
            let set = http
                .put(&url)
                .bearer_auth(&token)
                .json(&json!({"value": "open"}))
                .send()
                .await
                .expect("put");
            (got, bad.status(), set.status())
        }
    };
    let (before, bad, set) = admin_api(2).await;
    assert_eq!(before["contacts"], "all", "{before}");
    assert_eq!(bad, StatusCode::BAD_REQUEST);
    assert_eq!(set, StatusCode::OK);
    let status = reqwest::Client::new()
        .put(format!(
            "{}/_consort/admin/v1/policy/contacts",
            c.org(2).base_url
        ))
        .bearer_auth(&bob.token)
        .json(&json!({"value": "open"}))
        .send()
        .await
        .expect("put")
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN, "only admins");
    let mut status = StatusCode::FORBIDDEN;
    for _ in 0..100 {
        status = invite(&bert, &berts, &bob).await.0;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::OK, "org2's new policy applies");
    // A policy value the bridge does not know is refused.
    let bad = Record::OrgPolicy {
        policy: "contacts".into(),
        value: "sometimes".into(),
    };
    c.org(1)
        .node
        .state
        .chain()
        .expect("chain")
        .submit_record(&bad)
        .await
        .expect_err("an unknown policy value is refused");
    c.shutdown().await;
}

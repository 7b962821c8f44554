//! Push notifications through a real HTTP push gateway (a server in the test speaking the
//! push gateway API): a message from another organisation is pushed once, with the
//! documented fields; one's own messages are not; a removed pusher is not called; a pushkey
//! the gateway rejects loses its pusher; a gateway on a private address is not called unless
//! `ip_range_whitelist` allows it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::routing::post;
use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{User, register};
use crate::rooms::everywhere;

/// What the gateway received, and the pushkeys it rejects.
#[derive(Clone, Default)]
struct Gateway {
    received: Arc<Mutex<Vec<Value>>>,
    rejects: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    async fn start(&self) -> String {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/_matrix/push/v1/notify",
            post(move |Json(body): Json<Value>| {
                let me = me.clone();
                async move {
                    let key = body["notification"]["devices"][0]["pushkey"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    me.received.lock().unwrap().push(body);
                    let rejected: Vec<String> = me
                        .rejects
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|k| **k == key)
                        .cloned()
                        .collect();
                    Json(json!({"rejected": rejected}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}/_matrix/push/v1/notify")
    }

    fn for_key(&self, pushkey: &str) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b["notification"]["devices"][0]["pushkey"] == pushkey)
            .cloned()
            .collect()
    }

    async fn wait_for(&self, pushkey: &str, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let got = self.for_key(pushkey);
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{pushkey}: fewer than {n} notifications: {:?}",
            self.for_key(pushkey)
        );
    }
}

fn pusher(pushkey: &str, url: &str) -> Value {
    json!({
        "app_id": "org.consort.test",
        "pushkey": pushkey,
        "kind": "http",
        "app_display_name": "Consort test",
        "device_display_name": "Phone",
        "lang": "en",
        "data": {"url": url, "brand": "test"},
        "append": false,
    })
}

async fn pushers(user: &User) -> Vec<Value> {
    user.ok(Method::GET, "/_matrix/client/v3/pushers", None)
        .await["pushers"]
        .as_array()
        .expect("pushers")
        .clone()
}

/// Long enough for a node to have pushed an applied event, were it going to.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1_500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_are_pushed_through_the_users_push_gateway() {
    let gateway = Gateway::default();
    let url = gateway.start().await;
    // Org 1 allows a gateway on this machine; org 2 keeps the default blacklist.
    let c = Consortium::start_with(2, Db::Sqlite, RegistrationMode::Open, |config| {
        if config.server_name == "org1.localhost" {
            config.ip_range_whitelist = vec!["127.0.0.1/32".into()];
        }
    })
    .await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join_when_known(&room).await;

    // A pusher that is not a push gateway's URL is refused and not stored.
    let (status, v) = alice
        .call(
            Method::POST,
            "/_matrix/client/v3/pushers/set",
            Some(pusher("alice-key", "http://127.0.0.1:1/somewhere")),
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_INVALID_PARAM")),
        "{v}"
    );
    assert!(pushers(&alice).await.is_empty());

    alice
        .ok(
            Method::POST,
            "/_matrix/client/v3/pushers/set",
            Some(pusher("alice-key", &url)),
        )
        .await;
    let listed = pushers(&alice).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["pushkey"], "alice-key");
    assert_eq!(listed[0]["data"]["url"], url.as_str());

    // Bob, on org 2, writes: org 1 pushes it to Alice's gateway, once.
    let hello = bob.send(&room, "hello alice").await;
    let got = gateway.wait_for("alice-key", 1).await;
    let n = &got[0]["notification"];
    assert_eq!(n["event_id"], hello.as_str(), "{n}");
    assert_eq!(n["room_id"], room.as_str());
    assert_eq!(n["type"], "m.room.message");
    assert_eq!(n["sender"], bob.user_id.as_str());
    assert_eq!(n["content"]["body"], "hello alice");
    assert!(n["counts"]["unread"].as_u64().expect("unread") >= 1, "{n}");
    assert!(n["prio"] == "high" || n["prio"] == "low", "{n}");
    let device = &n["devices"][0];
    assert_eq!(device["app_id"], "org.consort.test");
    assert_eq!(
        device["data"],
        json!({"brand": "test"}),
        "the url stays with the server"
    );
    // Her own messages are not pushed to her.
    let mine = alice.send(&room, "my own words").await;
    everywhere(&c, &mine).await;
    settle().await;
    assert_eq!(gateway.for_key("alice-key").len(), 1);

    // A pushkey the gateway rejects loses its pusher.
    gateway.rejects.lock().unwrap().push("alice-key".into());
    bob.send(&room, "are you there").await;
    gateway.wait_for("alice-key", 2).await;
    let mut gone = false;
    for _ in 0..100 {
        if pushers(&alice).await.is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the rejected pusher was not removed");
    gateway.rejects.lock().unwrap().clear();

    // A pusher removed with `kind: null` is not called.
    alice
        .ok(
            Method::POST,
            "/_matrix/client/v3/pushers/set",
            Some(pusher("alice-key", &url)),
        )
        .await;
    alice
        .ok(
            Method::POST,
            "/_matrix/client/v3/pushers/set",
            Some(json!({"app_id": "org.consort.test", "pushkey": "alice-key", "kind": null})),
        )
        .await;
    assert!(pushers(&alice).await.is_empty());
    let later = bob.send(&room, "after the removal").await;
    everywhere(&c, &later).await;
    settle().await;
    assert_eq!(gateway.for_key("alice-key").len(), 2);

    // Org 2 does not call a gateway on a loopback address.
    bob.ok(
        Method::POST,
        "/_matrix/client/v3/pushers/set",
        Some(pusher("bob-key", &url)),
    )
    .await;
    let to_bob = alice.send(&room, "hello bob").await;
    everywhere(&c, &to_bob).await;
    settle().await;
    assert!(gateway.for_key("bob-key").is_empty());
    c.shutdown().await;
}

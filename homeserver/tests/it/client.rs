//! A minimal raw client-server API client for the consortium tests: one logged-in user on
//! one organisation's node, speaking JSON over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A logged-in user.
#[derive(Clone)]
pub struct User {
    pub base: String,
    pub user_id: String,
    pub token: String,
    http: reqwest::Client,
}

impl User {
    /// A user whose access token is already known (an admin written by `consort devnet`).
    pub fn with_token(base: &str, user_id: &str, token: &str) -> User {
        User {
            base: base.to_owned(),
            user_id: user_id.to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }
}

/// Registers `localpart` on the node at `base` (open registration, `m.login.dummy`).
pub async fn register(base: &str, localpart: &str) -> User {
    // Server logs go to the test's output (shown for failing tests), filtered by RUST_LOG.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{base}/_matrix/client/v3/register"))
        .json(&json!({
            "username": localpart,
            "password": format!("pw-{localpart}-1"),
            "auth": {"type": "m.login.dummy"},
        }))
        .send()
        .await
        .expect("register request");
    let status = response.status();
    let body: Value = response.json().await.expect("register answer");
    assert_eq!(status, StatusCode::OK, "register {localpart}: {body}");
    User {
        base: base.to_owned(),
        user_id: body["user_id"].as_str().expect("user_id").to_owned(),
        token: body["access_token"].as_str().expect("token").to_owned(),
        http,
    }
}

/// Percent-encodes a path segment (ids carry `!`, `$`, `#`, `:`).
pub fn enc(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl User {
    /// Any request; returns status and JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer: {text}"))
        };
        (status, value)
    }

    /// A request with a raw body.
    pub async fn call_raw(&self, method: Method, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `POST /_matrix/media/v3/upload` of `file`; answers the status and JSON.
    pub async fn upload(
        &self,
        file: Vec<u8>,
        content_type: &str,
        filename: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut path = "/_matrix/media/v3/upload".to_owned();
        if let Some(name) = filename {
            path.push_str(&format!("?filename={}", enc(name)));
        }
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(file)
            .send()
            .await
            .expect("upload sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Uploads `file` and answers its `mxc://` URI.
    pub async fn upload_ok(&self, file: Vec<u8>, content_type: &str) -> String {
        let (status, v) = self.upload(file, content_type, None).await;
        assert_eq!(status, StatusCode::OK, "upload: {v}");
        v["content_uri"].as_str().expect("content_uri").to_owned()
    }

    /// A GET answered with raw bytes: status, headers and body (authenticated unless
    /// `anonymous`).
    pub async fn get_bytes(
        &self,
        path: &str,
        anonymous: bool,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if !anonymous {
            request = request.bearer_auth(&self.token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("body").to_vec();
        (status, headers, body)
    }

    /// A request that must succeed.
    pub async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method.clone(), path, body).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{method} {path} as {}: {value}",
            self.user_id
        );
        value
    }

    /// `POST /createRoom`; returns the room id.
    pub async fn create_room(&self, body: Value) -> String {
        let v = self
            .ok(Method::POST, "/_matrix/client/v3/createRoom", Some(body))
            .await;
        v["room_id"].as_str().expect("room_id").to_owned()
    }

    /// Sends an `m.room.message` with transaction id `txn`; returns the answer.
    pub async fn send_txn(&self, room: &str, txn: &str, body: &str) -> (StatusCode, Value) {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
            enc(room)
        );
        self.call(
            Method::PUT,
            &path,
            Some(json!({"msgtype": "m.text", "body": body})),
        )
        .await
    }

    /// Sends a text message that must be accepted; returns its event id.
    pub async fn send(&self, room: &str, body: &str) -> String {
        self.send_content(room, json!({"msgtype": "m.text", "body": body}))
            .await
    }

    /// Sends an `m.room.message` with the given content, which must be accepted; returns
    /// its event id.
    pub async fn send_content(&self, room: &str, content: Value) -> String {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/t{}",
            enc(room),
            rand::random::<u64>()
        );
        let v = self.ok(Method::PUT, &path, Some(content)).await;
        v["event_id"].as_str().expect("event_id").to_owned()
    }

    /// `POST /join/{roomIdOrAlias}`.
    pub async fn join(&self, room: &str) -> (StatusCode, Value) {
        let path = format!("/_matrix/client/v3/join/{}", enc(room));
        self.call(Method::POST, &path, Some(json!({}))).await
    }

    /// Joins a room of another organisation, asking again until this node has applied the
    /// room's creation (for at most 5 s); panics when it never succeeds.
    pub async fn join_when_known(&self, room: &str) {
        let mut last = None;
        for _ in 0..100 {
            let answer = self.join(room).await;
            if answer.0.is_success() {
                return;
            }
            last = Some(answer);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{} cannot join {room}: {last:?}", self.user_id);
    }

    /// Makes `self` and `other` contacts: a request from `self`, accepted by `other`; then
    /// waits until `self`'s own node has applied the acceptance. Under the default `cross_org`
    /// policy a user of another organisation may be invited only once bound.
    pub async fn bind(&self, other: &User) {
        let api = "/_matrix/client/unstable/org.consort.contacts";
        let body = json!({"user_id": other.user_id});
        self.ok(Method::POST, &format!("{api}/requests"), Some(body))
            .await;
        for _ in 0..100 {
            let path = format!("{api}/requests/{}/accept", enc(&self.user_id));
            if other.call(Method::POST, &path, None).await.0 == StatusCode::OK {
                break;
            }
            // The request is not on the other's node yet.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        for _ in 0..100 {
            let list = self.ok(Method::GET, &format!("{api}/contacts"), None).await;
            if list["contacts"]
                .as_array()
                .is_some_and(|l| l.iter().any(|c| c["user_id"] == json!(other.user_id)))
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "{} and {} never became contacts",
            self.user_id, other.user_id
        );
    }

    /// Waits (through `/sync` on the user's own node) for the invite to `room`, then joins, as
    /// a client does: another organisation's node knows of a room only once it applied it.
    pub async fn accept_invite(&self, room: &str) {
        self.sync_until(None, 10, |v| !v["rooms"]["invite"][room].is_null())
            .await;
        let (status, body) = self.join(room).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{} joins {room}: {body}",
            self.user_id
        );
    }

    /// Waits until `alias` resolves on the user's own node.
    pub async fn wait_for_alias(&self, alias: &str) {
        let path = format!("/_matrix/client/v3/directory/room/{}", enc(alias));
        for _ in 0..200 {
            if self.call(Method::GET, &path, None).await.0 == StatusCode::OK {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{alias} never resolved on {}", self.base);
    }

    /// `POST /rooms/{room}/{action}` (invite, kick, ban, unban, leave) with a body.
    pub async fn room_action(&self, room: &str, action: &str, body: Value) -> (StatusCode, Value) {
        let path = format!("/_matrix/client/v3/rooms/{}/{action}", enc(room));
        self.call(Method::POST, &path, Some(body)).await
    }

    /// `PUT /rooms/{room}/state/{type}/{key}`.
    pub async fn put_state(
        &self,
        room: &str,
        kind: &str,
        key: &str,
        content: Value,
    ) -> (StatusCode, Value) {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/{kind}/{}",
            enc(room),
            enc(key)
        );
        self.call(Method::PUT, &path, Some(content)).await
    }

    /// A state entry's content once this user's node has it (for at most 10 s).
    pub async fn state_when(&self, room: &str, kind: &str, key: &str) -> Value {
        self.state_matching(room, kind, key, |_| true).await
    }

    /// A state entry's content once this user's node has one that `pred` accepts.
    pub async fn state_matching(
        &self,
        room: &str,
        kind: &str,
        key: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/{kind}/{}",
            enc(room),
            enc(key)
        );
        for _ in 0..200 {
            let (status, v) = self.call(Method::GET, &path, None).await;
            if status == StatusCode::OK && pred(&v) {
                return v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "{kind}/{key} of {room} as expected never reached {}",
            self.base
        );
    }

    /// Every event of a room the user may see, oldest first, paging `/messages` backwards.
    pub async fn all_messages(&self, room: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let mut path = format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=7",
                enc(room)
            );
            if let Some(f) = &from {
                path.push_str(&format!("&from={}", enc(f)));
            }
            let v = self.ok(Method::GET, &path, None).await;
            events.extend(v["chunk"].as_array().expect("chunk").iter().cloned());
            match v["end"].as_str() {
                Some(end) => from = Some(end.to_owned()),
                None => break,
            }
        }
        events.reverse();
        events
    }

    /// `/sync` with an optional `since` and a timeout in ms.
    pub async fn sync(&self, since: Option<&str>, timeout_ms: u64) -> Value {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(s) = since {
            path.push_str(&format!("&since={}", enc(s)));
        }
        self.ok(Method::GET, &path, None).await
    }

    /// Syncs until `pred` holds for an answer (each answer is handed to it), for at most
    /// `rounds` long-polls; returns the answer that satisfied it.
    pub async fn sync_until(
        &self,
        since: Option<&str>,
        rounds: usize,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Value {
        let mut since = since.map(str::to_owned);
        for _ in 0..rounds {
            let v = self.sync(since.as_deref(), 10_000).await;
            if pred(&v) {
                return v;
            }
            since = v["next_batch"].as_str().map(str::to_owned);
        }
        panic!(
            "{}: sync condition not met after {rounds} rounds",
            self.user_id
        );
    }
}

/// Event ids of a list of client events.
pub fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event_id"].as_str().expect("event_id").to_owned())
        .collect()
}

/// Bodies of the `m.room.message` events of a list.
pub fn bodies(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

/// A request of organisation `org`'s admin (Synapse's admin API): status and JSON body.
pub async fn admin(
    c: &consort_homeserver::testing::Consortium,
    org: usize,
    method: Method,
    path: &str,
) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", c.org(org).base_url))
        .bearer_auth(&c.org(org).admin.access_token)
        .send()
        .await
        .expect("admin request");
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

//! Bad input on every endpoint: the Matrix error codes Synapse gives, and nothing half-written.

use reqwest::{Method, StatusCode};
use serde_json::json;

use consort_homeserver::config::RateLimit;

use crate::{
    both_backends,
    harness::{Backend, TestServer, assert_error},
};

both_backends!(
    malformed_json,
    wrong_types_and_missing_fields,
    oversized_bodies,
    unknown_and_missing_tokens,
    invalid_and_taken_user_ids,
    unknown_endpoints,
    rate_limits,
);

/// Authenticated JSON endpoints, as (method, path) with `{user}` for the caller's id.
const AUTHED_JSON: &[(&str, &str)] = &[
    ("POST", "/_matrix/client/v3/account/password"),
    ("POST", "/_matrix/client/v3/account/deactivate"),
    ("PUT", "/_matrix/client/v3/devices/DEV"),
    ("DELETE", "/_matrix/client/v3/devices/DEV"),
    ("POST", "/_matrix/client/v3/delete_devices"),
    ("PUT", "/_matrix/client/v3/profile/{user}/displayname"),
    ("POST", "/_matrix/client/v3/user/{user}/filter"),
];

fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).expect("method")
}

async fn malformed_json(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let admin = hs.admin_token("root").await;
    let (user_id, token, _) = hs.register("una", "una-password").await;
    let users = hs.count("hs_users").await;
    for path in ["/_matrix/client/v3/login", "/_matrix/client/v3/register"] {
        assert_error(
            &hs.call_raw(Method::POST, path, None, b"{\"username\": ".to_vec())
                .await,
            StatusCode::BAD_REQUEST,
            "M_NOT_JSON",
        );
    }
    for (m, path) in AUTHED_JSON {
        let path = path.replace("{user}", &user_id);
        assert_error(
            &hs.call_raw(method(m), &path, Some(&token), b"not json at all".to_vec())
                .await,
            StatusCode::BAD_REQUEST,
            "M_NOT_JSON",
        );
    }
    assert_error(
        &hs.call_raw(
            Method::PUT,
            &format!("/_synapse/admin/v2/users/{}", hs.user_id("new")),
            Some(&admin),
            b"{".to_vec(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "M_NOT_JSON",
    );
    assert_error(
        &hs.call_raw(
            Method::POST,
            "/_synapse/admin/v1/register",
            None,
            b"[1,".to_vec(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "M_NOT_JSON",
    );
    assert_eq!(hs.count("hs_users").await, users);
    assert_eq!(
        hs.get("/_matrix/client/v3/account/whoami", Some(&token))
            .await
            .0,
        StatusCode::OK
    );
    hs.stop().await;
}

async fn wrong_types_and_missing_fields(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let admin = hs.admin_token("root").await;
    let (user_id, token, device) = hs.register("vera", "vera-password").await;
    let users = hs.count("hs_users").await;

    let cases = [
        (
            "POST",
            "/_matrix/client/v3/login".to_owned(),
            None,
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "vera"}, "password": 12}),
        ),
        (
            "POST",
            "/_matrix/client/v3/login".to_owned(),
            None,
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "vera"}}),
        ),
        (
            "POST",
            "/_matrix/client/v3/register".to_owned(),
            None,
            json!({"username": 5, "password": "x", "auth": {"type": "m.login.dummy"}}),
        ),
        (
            "POST",
            "/_matrix/client/v3/register".to_owned(),
            None,
            json!({"username": "w", "password": "pw", "inhibit_login": "yes", "auth": {"type": "m.login.dummy"}}),
        ),
        (
            "POST",
            "/_matrix/client/v3/account/password".to_owned(),
            Some(token.as_str()),
            json!({"new_password": false}),
        ),
        (
            "POST",
            "/_matrix/client/v3/account/password".to_owned(),
            Some(token.as_str()),
            json!({}),
        ),
        (
            "PUT",
            format!("/_matrix/client/v3/devices/{device}"),
            Some(token.as_str()),
            json!({"display_name": 5}),
        ),
        (
            "POST",
            "/_matrix/client/v3/delete_devices".to_owned(),
            Some(token.as_str()),
            json!({}),
        ),
        (
            "PUT",
            format!("/_matrix/client/v3/profile/{user_id}/displayname"),
            Some(token.as_str()),
            json!({"displayname": ["a"]}),
        ),
        (
            "POST",
            format!("/_matrix/client/v3/user/{user_id}/filter"),
            Some(token.as_str()),
            json!({"room": {"timeline": {"limit": "ten"}}}),
        ),
        (
            "PUT",
            format!("/_synapse/admin/v2/users/{}", hs.user_id("new")),
            Some(admin.as_str()),
            json!({"admin": "yes"}),
        ),
        (
            "PUT",
            format!("/_synapse/admin/v2/users/{}", hs.user_id("new")),
            Some(admin.as_str()),
            json!([1, 2]),
        ),
        (
            "POST",
            "/_synapse/admin/v1/register".to_owned(),
            None,
            json!({"username": "x"}),
        ),
    ];
    for (m, path, tok, body) in cases {
        let answer = hs.call(method(m), &path, tok, Some(body.clone())).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    }
    assert_eq!(hs.count("hs_users").await, users, "nothing created");
    assert_eq!(hs.count("hs_filters").await, 0);
    let (_, body) = hs
        .get(
            &format!("/_matrix/client/v3/devices/{device}"),
            Some(&token),
        )
        .await;
    assert!(body["display_name"].is_null(), "{body}");
    assert_eq!(
        hs.login("vera", "vera-password").await.0,
        StatusCode::OK,
        "password unchanged"
    );

    // Unknown login type and identifier kinds.
    assert_error(
        &hs.post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.token", "token": "abc"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "M_UNKNOWN",
    );
    hs.stop().await;
}

async fn oversized_bodies(backend: Backend) {
    let hs = TestServer::start(backend, |c| c.max_body_bytes = 1024).await;
    let admin = hs.admin_token("root").await;
    let users = hs.count("hs_users").await;
    let big = "x".repeat(4096);
    let cases = [
        (
            "POST",
            "/_matrix/client/v3/register".to_owned(),
            None,
            json!({"username": "big", "password": big, "auth": {"type": "m.login.dummy"}}),
        ),
        (
            "POST",
            "/_matrix/client/v3/login".to_owned(),
            None,
            json!({"type": "m.login.password", "user": "root", "password": big}),
        ),
        (
            "PUT",
            format!(
                "/_matrix/client/v3/profile/{}/displayname",
                hs.user_id("root")
            ),
            Some(admin.as_str()),
            json!({"displayname": big}),
        ),
        (
            "PUT",
            format!("/_synapse/admin/v2/users/{}", hs.user_id("big")),
            Some(admin.as_str()),
            json!({"password": big}),
        ),
    ];
    for (m, path, tok, body) in cases {
        assert_error(
            &hs.call(method(m), &path, tok, Some(body)).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "M_TOO_LARGE",
        );
    }
    // Also when the client streams without announcing a length.
    let stream = futures_body(vec![b'{'; 4096]);
    let response = hs
        .http
        .post(format!("{}/_matrix/client/v3/login", hs.base))
        .body(stream)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(hs.count("hs_users").await, users);
    let (_, body) = hs
        .get(
            &format!("/_matrix/client/v3/profile/{}", hs.user_id("root")),
            None,
        )
        .await;
    assert_eq!(body["displayname"], "root");
    hs.stop().await;
}

/// A body without Content-Length (chunked).
fn futures_body(bytes: Vec<u8>) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(512).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

async fn unknown_and_missing_tokens(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let user = hs.user_id("zed");
    let mut endpoints: Vec<(&str, String)> = AUTHED_JSON
        .iter()
        .map(|(m, p)| (*m, p.replace("{user}", &user)))
        .collect();
    endpoints.extend([
        ("GET", "/_matrix/client/v3/account/whoami".to_owned()),
        ("POST", "/_matrix/client/v3/logout".to_owned()),
        ("POST", "/_matrix/client/v3/logout/all".to_owned()),
        ("GET", "/_matrix/client/v3/devices".to_owned()),
        ("GET", "/_matrix/client/v3/devices/DEV".to_owned()),
        ("GET", "/_matrix/client/v3/capabilities".to_owned()),
        ("GET", format!("/_matrix/client/v3/user/{user}/filter/1")),
        ("GET", "/_synapse/admin/v2/users".to_owned()),
        ("GET", format!("/_synapse/admin/v2/users/{user}")),
    ]);
    for (m, path) in &endpoints {
        // Valid bodies: this is about tokens (`new_password` is the one required field here).
        let body =
            (*m != "GET").then(|| json!({"new_password": "pw", "devices": [], "displayname": "x"}));
        assert_error(
            &hs.call(method(m), path, Some("unknown-token"), body.clone())
                .await,
            StatusCode::UNAUTHORIZED,
            "M_UNKNOWN_TOKEN",
        );
        assert_error(
            &hs.call(method(m), path, None, body).await,
            StatusCode::UNAUTHORIZED,
            "M_MISSING_TOKEN",
        );
    }
    hs.stop().await;
}

async fn invalid_and_taken_user_ids(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    hs.register("taken", "taken-password").await;
    let users = hs.count("hs_users").await;
    let long = "a".repeat(250);
    for name in ["Alice", "_bridge", "with space", "é", long.as_str(), ""] {
        assert_error(
            &hs.post(
                "/_matrix/client/v3/register",
                None,
                json!({"username": name, "password": "pw-123456", "auth": {"type": "m.login.dummy"}}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "M_INVALID_USERNAME",
        );
    }
    assert_error(
        &hs.post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "taken", "password": "pw-123456", "auth": {"type": "m.login.dummy"}}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "M_USER_IN_USE",
    );
    assert_eq!(hs.count("hs_users").await, users);
    // Logging in as a user of another server.
    assert_error(
        &hs.login("@taken:elsewhere.example", "taken-password").await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &hs.login("nobody", "x").await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    hs.stop().await;
}

async fn unknown_endpoints(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    assert_error(
        &hs.get("/_matrix/client/v3/no/such/endpoint", None).await,
        StatusCode::NOT_FOUND,
        "M_UNRECOGNIZED",
    );
    assert_error(
        &hs.call(Method::DELETE, "/_matrix/client/v3/login", None, None)
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "M_UNRECOGNIZED",
    );
    hs.stop().await;
}

async fn rate_limits(backend: Backend) {
    let hs = TestServer::start(backend, |c| {
        c.rate_limits.login = RateLimit {
            per_second: 0.01,
            burst: 2,
        };
        c.rate_limits.register = RateLimit {
            per_second: 0.01,
            burst: 1,
        };
    })
    .await;
    hs.register("rita", "rita-password").await;
    let limited = hs
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "sven", "password": "pw-123456", "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED");
    assert!(
        limited.1["retry_after_ms"]
            .as_u64()
            .expect("retry_after_ms")
            > 0
    );
    assert_eq!(hs.count("hs_users").await, 1);

    assert_eq!(hs.login("rita", "rita-password").await.0, StatusCode::OK);
    assert_eq!(hs.login("rita", "wrong").await.0, StatusCode::FORBIDDEN);
    let limited = hs.login("rita", "rita-password").await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED");
    let retry = limited.1["retry_after_ms"]
        .as_u64()
        .expect("retry_after_ms");
    assert!(retry > 1000, "{retry}");
    hs.stop().await;
}

//! Registration, login, whoami, logout, password change and deactivation: the happy paths and
//! their user-interactive-auth steps.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    both_backends,
    harness::{Backend, TestServer, assert_error},
};

both_backends!(
    discovery_endpoints,
    register_login_whoami_logout,
    register_uiaa_challenge_then_dummy,
    register_options_and_availability,
    registration_tokens,
    change_password_with_uiaa,
    deactivate_with_uiaa,
    closed_registration,
);

async fn discovery_endpoints(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let (status, body) = hs.get("/_matrix/client/versions", None).await;
    assert_eq!(status, StatusCode::OK);
    let versions: Vec<&str> = body["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(versions.contains(&"v1.16"), "{body}");

    let (status, body) = hs.get("/.well-known/matrix/client", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["m.homeserver"]["base_url"],
        hs.state.config.public_base_url()
    );

    // Both the r0 and v3 paths of the same endpoint are served.
    for path in ["/_matrix/client/v3/login", "/_matrix/client/r0/login"] {
        let (status, body) = hs.get(path, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["flows"], json!([{"type": "m.login.password"}]));
    }

    let (_, token, _) = hs.register("cap", "pw-cap-123").await;
    let (status, body) = hs
        .get("/_matrix/client/v3/capabilities", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // `m.change_password` defaults to enabled and may be omitted; it must not be disabled.
    assert_ne!(body["capabilities"]["m.change_password"]["enabled"], false);
    assert_eq!(body["capabilities"]["m.room_versions"]["default"], "11");
    assert_eq!(
        body["capabilities"]["m.profile_fields"]["allowed"],
        json!(["displayname", "avatar_url"])
    );

    // CORS preflight from a web client.
    let response = hs
        .http
        .request(
            Method::OPTIONS,
            format!("{}/_matrix/client/v3/login", hs.base),
        )
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert!(response.status().is_success());
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    hs.stop().await;
}

async fn register_login_whoami_logout(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let (user_id, token, device_id) = hs.register("alice", "correct horse").await;
    assert_eq!(user_id, hs.user_id("alice"));

    let (status, body) = hs
        .get("/_matrix/client/v3/account/whoami", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user_id"], user_id);
    assert_eq!(body["device_id"], device_id);
    assert_ne!(body["is_guest"], true);

    // The deprecated query-parameter token works too.
    let (status, _) = hs
        .get(
            &format!("/_matrix/client/v3/account/whoami?access_token={token}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Login by localpart and by full user id; each login is a new device.
    let (status, by_localpart) = hs.login("alice", "correct horse").await;
    assert_eq!(status, StatusCode::OK, "{by_localpart}");
    assert_eq!(by_localpart["user_id"], user_id);
    let (status, by_mxid) = hs.login(&user_id, "correct horse").await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(by_localpart["device_id"], by_mxid["device_id"]);
    assert_eq!(hs.count("hs_devices").await, 3);
    // Tokens are stored only as digests.
    let stored: i64 = {
        use sqlx::Row;
        sqlx::query("SELECT COUNT(*) AS n FROM hs_access_tokens WHERE token_hash = $1")
            .bind(&token)
            .fetch_one(&hs.state.db.pool)
            .await
            .expect("query")
            .try_get("n")
            .expect("n")
    };
    assert_eq!(stored, 0, "raw token must not be stored");

    // Wrong password.
    assert_error(
        &hs.login("alice", "wrong").await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );

    // Logout ends this token only.
    let (status, _) = hs
        .post("/_matrix/client/v3/logout", Some(&token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &hs.get("/_matrix/client/v3/account/whoami", Some(&token))
            .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );
    let other = by_localpart["access_token"].as_str().expect("token");
    let (status, _) = hs
        .get("/_matrix/client/v3/account/whoami", Some(other))
        .await;
    assert_eq!(status, StatusCode::OK);

    // Logout/all ends every session.
    let (status, _) = hs
        .post("/_matrix/client/v3/logout/all", Some(other), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    for t in [other, by_mxid["access_token"].as_str().expect("token")] {
        assert_error(
            &hs.get("/_matrix/client/v3/account/whoami", Some(t)).await,
            StatusCode::UNAUTHORIZED,
            "M_UNKNOWN_TOKEN",
        );
    }
    assert_eq!(hs.count("hs_devices").await, 0);
    assert_eq!(hs.count("hs_access_tokens").await, 0);
    hs.stop().await;
}

async fn register_uiaa_challenge_then_dummy(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let (status, body) = hs
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "bob", "password": "pw-bob-1234"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["flows"], json!([{"stages": ["m.login.dummy"]}]));
    let session = body["session"].as_str().expect("session").to_owned();
    assert_eq!(hs.count("hs_users").await, 0, "a challenge writes nothing");

    let (status, body) = hs
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "bob", "password": "pw-bob-1234",
                   "auth": {"type": "m.login.dummy", "session": session}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], hs.user_id("bob"));
    assert!(body["access_token"].is_string());
    hs.stop().await;
}

async fn register_options_and_availability(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let (status, body) = hs
        .get("/_matrix/client/v3/register/available?username=carol", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["available"], true);

    let (status, body) = hs
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "carol", "password": "pw-carol-12", "inhibit_login": true,
                   "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], hs.user_id("carol"));
    assert!(body.get("access_token").is_none(), "inhibit_login: {body}");
    assert_eq!(hs.count("hs_devices").await, 0);

    assert_error(
        &hs.get("/_matrix/client/v3/register/available?username=carol", None)
            .await,
        StatusCode::BAD_REQUEST,
        "M_USER_IN_USE",
    );
    assert_error(
        &hs.get(
            "/_matrix/client/v3/register/available?username=Carol!",
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_USERNAME",
    );

    // Chosen device id and display name.
    let (status, body) = hs
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "dave", "password": "pw-dave-12", "device_id": "DAVEPHONE",
                   "initial_device_display_name": "Dave's phone", "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["device_id"], "DAVEPHONE");
    let token = body["access_token"].as_str().expect("token");
    let (status, body) = hs
        .get("/_matrix/client/v3/devices/DAVEPHONE", Some(token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["display_name"], "Dave's phone");

    // No username: the server picks one.
    let (status, body) = hs
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"password": "pw-anon-12", "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["user_id"]
            .as_str()
            .expect("user_id")
            .ends_with(":org1.localhost")
    );
    hs.stop().await;
}

async fn registration_tokens(backend: Backend) {
    let hs = TestServer::start(backend, |c| {
        c.registration_tokens = vec!["let-me-in".into()]
    })
    .await;
    let (status, body) = hs
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "erin", "password": "pw-erin-12"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["flows"],
        json!([{"stages": ["m.login.registration_token"]}])
    );

    let (status, body) = hs
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "erin", "password": "pw-erin-12",
                   "auth": {"type": "m.login.registration_token", "token": "guess"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["errcode"], "M_UNAUTHORIZED");
    assert_eq!(hs.count("hs_users").await, 0);
    // The validity check (unauthenticated) knows the configured tokens.
    for (token, valid) in [("let-me-in", true), ("guess", false)] {
        let (status, body) = hs
            .get(
                &format!(
                    "/_matrix/client/v1/register/m.login.registration_token/validity?token={token}"
                ),
                None,
            )
            .await;
        assert_eq!(
            (status, body["valid"].clone()),
            (StatusCode::OK, json!(valid))
        );
    }

    // Dummy auth is not enough when tokens are required.
    let (status, _) = hs
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "erin", "password": "pw-erin-12", "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(hs.count("hs_users").await, 0);

    let (status, body) = hs
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "erin", "password": "pw-erin-12",
                   "auth": {"type": "m.login.registration_token", "token": "let-me-in"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    hs.stop().await;
}

async fn change_password_with_uiaa(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let (user_id, token, _) = hs.register("frank", "old-password").await;
    let (_, other) = hs.login("frank", "old-password").await;
    let other = other["access_token"].as_str().expect("token").to_owned();

    let (status, body) = hs
        .post(
            "/_matrix/client/v3/account/password",
            Some(&token),
            json!({"new_password": "new-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["flows"], json!([{"stages": ["m.login.password"]}]));

    let wrong = hs
        .post(
            "/_matrix/client/v3/account/password",
            Some(&token),
            json!({"new_password": "new-password", "auth": {"type": "m.login.password",
                   "identifier": {"type": "m.id.user", "user": user_id}, "password": "nope"}}),
        )
        .await;
    assert_error(&wrong, StatusCode::UNAUTHORIZED, "M_FORBIDDEN");
    assert_eq!(hs.login("frank", "old-password").await.0, StatusCode::OK);

    let (status, body) = hs
        .post(
            "/_matrix/client/v3/account/password",
            Some(&token),
            json!({"new_password": "new-password", "logout_devices": true, "auth": {"type": "m.login.password",
                   "identifier": {"type": "m.id.user", "user": "frank"}, "password": "old-password"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_error(
        &hs.login("frank", "old-password").await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_eq!(hs.login("frank", "new-password").await.0, StatusCode::OK);
    // logout_devices: other sessions end, this one stays.
    assert_eq!(
        hs.get("/_matrix/client/v3/account/whoami", Some(&token))
            .await
            .0,
        StatusCode::OK
    );
    assert_error(
        &hs.get("/_matrix/client/v3/account/whoami", Some(&other))
            .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );
    hs.stop().await;
}

async fn deactivate_with_uiaa(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let (user_id, token, _) = hs.register("gina", "gina-password").await;
    let (status, _) = hs
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        hs.get("/_matrix/client/v3/account/whoami", Some(&token))
            .await
            .0,
        StatusCode::OK
    );

    let (status, body) = hs
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&token),
            json!({"auth": {"type": "m.login.password",
                   "identifier": {"type": "m.id.user", "user": user_id}, "password": "gina-password"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id_server_unbind_result"], "success");
    assert_error(
        &hs.get("/_matrix/client/v3/account/whoami", Some(&token))
            .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );
    assert_error(
        &hs.login("gina", "gina-password").await,
        StatusCode::FORBIDDEN,
        "M_USER_DEACTIVATED",
    );
    // A deactivated id is never handed out again.
    assert_error(
        &hs.post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "gina", "password": "x-password", "auth": {"type": "m.login.dummy"}}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "M_USER_IN_USE",
    );
    // The registration, the default profile (display name = localpart) and the
    // deactivation were published to the (local) ledger, in that order.
    use sqlx::Row;
    let kinds: Vec<String> =
        sqlx::query("SELECT kind FROM hs_local_ledger WHERE user_id = $1 ORDER BY seq")
            .bind(&user_id)
            .fetch_all(&hs.state.db.pool)
            .await
            .expect("ledger rows")
            .iter()
            .map(|r| r.try_get("kind").expect("kind"))
            .collect();
    assert_eq!(kinds, vec!["registration", "profile", "deactivation"]);
    hs.stop().await;
}

async fn closed_registration(backend: Backend) {
    let hs = TestServer::start(backend, |c| {
        c.registration = consort_homeserver::config::RegistrationMode::Closed;
    })
    .await;
    assert_error(
        &hs.post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "henry", "password": "pw-henry-1", "auth": {"type": "m.login.dummy"}}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_eq!(hs.count("hs_users").await, 0);
    hs.stop().await;
}

//! Refresh tokens (`/refresh`): asked for at `/register` or `/login`, they come with an access
//! token that expires (then 401 `M_UNKNOWN_TOKEN` with `soft_logout`); each is good for one
//! new pair on the same device, and logging out revokes it.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    both_backends,
    harness::{Backend, TestServer, assert_error},
};

both_backends!(refresh_tokens_renew_expiring_access_tokens);

async fn refresh_tokens_renew_expiring_access_tokens(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let (status, registered) = hs
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "rita", "password": "pw-rita-1", "auth": {"type": "m.login.dummy"}, "refresh_token": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    let access = registered["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let refresh = registered["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_eq!(registered["expires_in_ms"], 300_000, "{registered}");
    let device = registered["device_id"].as_str().expect("device").to_owned();
    let (status, me) = hs
        .get("/_matrix/client/v3/account/whoami", Some(&access))
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    // A login that does not ask for one gets a token that does not expire.
    let (status, plain) = hs
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "rita"}, "password": "pw-rita-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    assert!(
        plain.get("refresh_token").is_none() && plain.get("expires_in_ms").is_none(),
        "{plain}"
    );

    // The refreshable access token expires: a soft logout.
    sqlx::query(
        "UPDATE hs_access_tokens SET expires_ts = 1 WHERE refresh = 0 AND expires_ts IS NOT NULL",
    )
    .execute(&hs.state.db.pool)
    .await
    .expect("expire");
    let expired = hs
        .get("/_matrix/client/v3/account/whoami", Some(&access))
        .await;
    assert_error(&expired, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
    assert_eq!(expired.1["soft_logout"], true, "{}", expired.1);
    // A refresh token is no access token.
    assert_error(
        &hs.get("/_matrix/client/v3/account/whoami", Some(&refresh))
            .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );

    let (status, renewed) = hs
        .post(
            "/_matrix/client/v3/refresh",
            None,
            json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let access2 = renewed["access_token"].as_str().expect("access").to_owned();
    let refresh2 = renewed["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_eq!(renewed["expires_in_ms"], 300_000);
    assert_ne!(access2, access);
    let (status, me) = hs
        .get("/_matrix/client/v3/account/whoami", Some(&access2))
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["device_id"], device.as_str(), "the same device");
    // Used once: refused the second time, and the old access token stays dead.
    let again = hs
        .post(
            "/_matrix/client/v3/refresh",
            None,
            json!({"refresh_token": refresh}),
        )
        .await;
    assert_error(&again, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
    assert_ne!(again.1["soft_logout"], true);
    // Bad bodies.
    assert_error(
        &hs.post("/_matrix/client/v3/refresh", None, json!({})).await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    assert_error(
        &hs.post(
            "/_matrix/client/v3/refresh",
            None,
            json!({"refresh_token": 7}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    // Logging out revokes the refresh token with the access token.
    let (status, _) = hs
        .post("/_matrix/client/v3/logout", Some(&access2), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &hs.post(
            "/_matrix/client/v3/refresh",
            None,
            json!({"refresh_token": refresh2}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );
    hs.stop().await;
}

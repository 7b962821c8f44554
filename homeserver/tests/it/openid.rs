//! OpenID tokens: a user asks for one, a third party checks it at the userinfo endpoint; only
//! for oneself, never as an access token, and not after it expires.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    both_backends,
    harness::{Backend, TestServer, assert_error},
};

both_backends!(openid_tokens_prove_who_the_user_is);

async fn openid_tokens_prove_who_the_user_is(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let (alice, token, _) = hs.register("alice", "pw-alice-1").await;
    let (bob, _, _) = hs.register("bob", "pw-bob-1").await;
    let path = |user: &str| format!("/_matrix/client/v3/user/{user}/openid/request_token");

    let (status, issued) = hs.post(&path(&alice), Some(&token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["matrix_server_name"], "org1.localhost");
    assert_eq!(issued["expires_in"], 3600);
    let openid = issued["access_token"].as_str().expect("token").to_owned();
    assert!(openid.len() >= 32, "{openid}");
    assert_eq!(hs.count("hs_openid_tokens").await, 1);

    let userinfo = |t: &str| format!("/_matrix/federation/v1/openid/userinfo?access_token={t}");
    let (status, who) = hs.get(&userinfo(&openid), None).await;
    assert_eq!((status, who), (StatusCode::OK, json!({"sub": alice})));
    // It is not an access token, and an access token is not an OpenID token.
    assert_error(
        &hs.get("/_matrix/client/v3/account/whoami", Some(&openid))
            .await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );
    assert_error(
        &hs.get(&userinfo(&token), None).await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );
    // Only for oneself; nothing is stored for a refusal.
    assert_error(
        &hs.post(&path(&bob), Some(&token), json!({})).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &hs.post(&path(&alice), None, json!({})).await,
        StatusCode::UNAUTHORIZED,
        "M_MISSING_TOKEN",
    );
    assert_eq!(hs.count("hs_openid_tokens").await, 1);
    assert_error(
        &hs.get("/_matrix/federation/v1/openid/userinfo", None).await,
        StatusCode::BAD_REQUEST,
        "M_MISSING_PARAM",
    );
    // Expired: refused, and swept when the next token is issued.
    sqlx::query("UPDATE hs_openid_tokens SET expires_ms = 1")
        .execute(&hs.state.db.pool)
        .await
        .expect("expire");
    assert_error(
        &hs.get(&userinfo(&openid), None).await,
        StatusCode::UNAUTHORIZED,
        "M_UNKNOWN_TOKEN",
    );
    let (status, _) = hs.post(&path(&alice), Some(&token), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hs.count("hs_openid_tokens").await, 1);
    hs.stop().await;
}

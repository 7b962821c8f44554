//! Profiles (display name, avatar) and sync filters.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    both_backends,
    harness::{Backend, TestServer, assert_error},
};

both_backends!(profile_fields, filters);

async fn profile_fields(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let (user_id, token, _) = hs.register("jane", "jane-password").await;
    let (_, other_token, _) = hs.register("kim", "kim-password").await;

    let (status, body) = hs
        .get(&format!("/_matrix/client/v3/profile/{user_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["displayname"], "jane", "defaults to the localpart");

    let (status, _) = hs
        .put(
            &format!("/_matrix/client/v3/profile/{user_id}/displayname"),
            Some(&token),
            json!({"displayname": "Jane Doe"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = hs
        .put(
            &format!("/_matrix/client/v3/profile/{user_id}/avatar_url"),
            Some(&token),
            json!({"avatar_url": "mxc://org1.localhost/abc"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = hs
        .get(
            &format!("/_matrix/client/v3/profile/{user_id}/displayname"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"displayname": "Jane Doe"}));
    let (status, body) = hs
        .get(&format!("/_matrix/client/r0/profile/{user_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"displayname": "Jane Doe", "avatar_url": "mxc://org1.localhost/abc"})
    );

    // DELETE clears a field (Matrix 1.16); another user's is refused; a field this server
    // does not store is already absent.
    let avatar = format!("/_matrix/client/v3/profile/{user_id}/avatar_url");
    let (status, _) = hs
        .call(reqwest::Method::DELETE, &avatar, Some(&other_token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = hs
        .call(reqwest::Method::DELETE, &avatar, Some(&token), None)
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (status, body) = hs
        .call(
            reqwest::Method::DELETE,
            &format!("/_matrix/client/v3/profile/{user_id}/org.example.custom"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (_, body) = hs
        .get(&format!("/_matrix/client/v3/profile/{user_id}"), None)
        .await;
    assert_eq!(body, json!({"displayname": "Jane Doe"}));
    let (status, _) = hs
        .put(
            &avatar,
            Some(&token),
            json!({"avatar_url": "mxc://org1.localhost/abc"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Someone else's profile.
    assert_error(
        &hs.put(
            &format!("/_matrix/client/v3/profile/{user_id}/displayname"),
            Some(&other_token),
            json!({"displayname": "hacked"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    // Unknown users, here and on servers nobody knows.
    for missing in ["@nobody:org1.localhost", "@x:elsewhere.example"] {
        assert_error(
            &hs.get(&format!("/_matrix/client/v3/profile/{missing}"), None)
                .await,
            StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
        );
    }
    assert_error(
        &hs.get("/_matrix/client/v3/profile/not-a-user-id", None)
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    let (status, body) = hs
        .get(
            &format!("/_matrix/client/v3/profile/{user_id}/displayname"),
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"displayname": "Jane Doe"}))
    );
    hs.stop().await;
}

async fn filters(backend: Backend) {
    let hs = TestServer::start(backend, |_| {}).await;
    let (user_id, token, _) = hs.register("leo", "leo-password").await;
    let (other_id, other_token, _) = hs.register("mia", "mia-password").await;
    let filter = json!({"room": {"timeline": {"limit": 10}}, "event_fields": ["type", "content"]});
    let (status, body) = hs
        .post(
            &format!("/_matrix/client/v3/user/{user_id}/filter"),
            Some(&token),
            filter.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let filter_id = body["filter_id"].as_str().expect("filter_id").to_owned();

    let (status, body) = hs
        .get(
            &format!("/_matrix/client/v3/user/{user_id}/filter/{filter_id}"),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["room"]["timeline"]["limit"], 10);
    assert_eq!(body["event_fields"], json!(["type", "content"]));

    assert_error(
        &hs.get(
            &format!("/_matrix/client/v3/user/{user_id}/filter/{filter_id}"),
            Some(&other_token),
        )
        .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &hs.post(
            &format!("/_matrix/client/v3/user/{other_id}/filter"),
            Some(&token),
            filter,
        )
        .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &hs.get(
            &format!("/_matrix/client/v3/user/{user_id}/filter/nope"),
            Some(&token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    assert_eq!(hs.count("hs_filters").await, 1);
    hs.stop().await;
}

//! Approval mode (MSC3866): accounts exist but cannot log in until an admin approves them.

use reqwest::StatusCode;
use serde_json::json;

use consort_homeserver::config::RegistrationMode;

use crate::{
    both_backends,
    harness::{Backend, TestServer, assert_error},
};

both_backends!(approval_flow);

async fn approval_flow(backend: Backend) {
    let hs = TestServer::start(backend, |c| c.registration = RegistrationMode::Approval).await;
    let admin = hs.admin_token("root").await;

    let pending = hs
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({"username": "nina", "password": "nina-password", "auth": {"type": "m.login.dummy"}}),
        )
        .await;
    assert_error(&pending, StatusCode::FORBIDDEN, "M_USER_AWAITING_APPROVAL");
    // The account exists, with no session.
    assert_eq!(hs.count("hs_users").await, 2);
    assert_eq!(hs.count("hs_access_tokens").await, 1, "only the admin's");

    assert_error(
        &hs.login("nina", "nina-password").await,
        StatusCode::FORBIDDEN,
        "M_USER_AWAITING_APPROVAL",
    );
    // A wrong password does not reveal the pending state.
    assert_error(
        &hs.login("nina", "wrong").await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    // Nor does a pending account have a public profile.
    assert_error(
        &hs.get(
            &format!("/_matrix/client/v3/profile/{}", hs.user_id("nina")),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );

    // A non-admin (created and approved by the admin) cannot use the admin API.
    let (status, _) = hs
        .put(
            &format!("/_synapse/admin/v2/users/{}", hs.user_id("olga")),
            Some(&admin),
            json!({"password": "olga-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, olga) = hs.login("olga", "olga-password").await;
    assert_eq!(status, StatusCode::OK);
    let olga = olga["access_token"].as_str().expect("token");
    assert_error(
        &hs.put(
            &format!("/_synapse/admin/v2/users/{}", hs.user_id("nina")),
            Some(olga),
            json!({"approved": true}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &hs.get("/_synapse/admin/v2/users?approved=false", Some(olga))
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &hs.login("nina", "nina-password").await,
        StatusCode::FORBIDDEN,
        "M_USER_AWAITING_APPROVAL",
    );

    // The admin sees the pending account and approves it.
    let (status, body) = hs
        .get("/_synapse/admin/v2/users?approved=false", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 1);
    assert_eq!(body["users"][0]["name"], hs.user_id("nina"));
    assert_eq!(body["users"][0]["approved"], false);

    let (status, body) = hs
        .put(
            &format!("/_synapse/admin/v2/users/{}", hs.user_id("nina")),
            Some(&admin),
            json!({"approved": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["approved"], true);

    let (status, body) = hs.login("nina", "nina-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = hs
        .get("/_synapse/admin/v2/users?approved=false", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 0);

    // The approval went through the ledger, naming the approving admin.
    use sqlx::Row;
    let row = sqlx::query("SELECT kind, approved_by FROM hs_local_ledger WHERE user_id = $1")
        .bind(hs.user_id("nina"))
        .fetch_one(&hs.state.db.pool)
        .await
        .expect("ledger row");
    assert_eq!(
        row.try_get::<String, _>("kind").expect("kind"),
        "registration"
    );
    assert_eq!(
        row.try_get::<Option<String>, _>("approved_by")
            .expect("approved_by"),
        Some(hs.user_id("root"))
    );
    hs.stop().await;
}

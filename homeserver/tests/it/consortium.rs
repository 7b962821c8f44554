//! Accounts across a real 4-organisation consortium: approval by the user's own organisation
//! only, recorded on the ledger, visible to every other organisation.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn call(
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `GET url` until `done` holds for the answer (another organisation's node applies a block
/// on its own, moments after the one that answered the write), for at most ten seconds.
async fn get_until(
    url: String,
    token: &str,
    done: impl Fn(StatusCode, &Value) -> bool,
) -> (StatusCode, Value) {
    let mut answer = (StatusCode::IM_A_TEAPOT, Value::Null);
    for _ in 0..200 {
        answer = call(reqwest::Method::GET, url.clone(), Some(token), None).await;
        if done(answer.0, &answer.1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    answer
}

async fn login(base: &str, user: &str, password: &str) -> (StatusCode, Value) {
    call(
        reqwest::Method::POST,
        format!("{base}/_matrix/client/v3/login"),
        None,
        Some(json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
        })),
    )
    .await
}

async fn approval_across_organisations(db: Db) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let c = Consortium::start(4, db, RegistrationMode::Approval).await;
    let (org2, org3, org4) = (c.org(2), c.org(3), c.org(4));

    let (status, body) = call(
        reqwest::Method::POST,
        format!("{}/_matrix/client/v3/register", org2.base_url),
        None,
        Some(json!({"username": "carol", "password": "pw-carol-1", "auth": {"type": "m.login.dummy"}})),
    )
    .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_USER_AWAITING_APPROVAL"))
    );
    let carol = "@carol:org2.localhost";

    // Refused login until approved.
    let (status, body) = login(&org2.base_url, "carol", "pw-carol-1").await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_USER_AWAITING_APPROVAL"))
    );
    // Not visible to other organisations yet.
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{}/_matrix/client/v3/profile/{carol}", org4.base_url),
        Some(&org4.admin.access_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Org 3's admin cannot approve org 2's user.
    let (status, body) = call(
        reqwest::Method::PUT,
        format!("{}/_synapse/admin/v2/users/{carol}", org3.base_url),
        Some(&org3.admin.access_token),
        Some(json!({"approved": true})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = login(&org2.base_url, "carol", "pw-carol-1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Org 2's admin approves: the certificate commits on the ledger.
    let (status, body) = call(
        reqwest::Method::PUT,
        format!("{}/_synapse/admin/v2/users/{carol}", org2.base_url),
        Some(&org2.admin.access_token),
        Some(json!({"approved": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["approved"], json!(true));
    let (status, body) = login(&org2.base_url, "carol", "pw-carol-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();

    // Org 4 sees carol's profile through the ledger, including a later change.
    let (status, body) = get_until(
        format!("{}/_matrix/client/v3/profile/{carol}", org4.base_url),
        &org4.admin.access_token,
        |status, _| status == StatusCode::OK,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["displayname"], json!("carol"));
    let (status, _) = call(
        reqwest::Method::PUT,
        format!(
            "{}/_matrix/client/v3/profile/{carol}/displayname",
            org2.base_url
        ),
        Some(&token),
        Some(json!({"displayname": "Carol of Org 2"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for org in [c.org(1), org3, org4] {
        let (_, body) = get_until(
            format!(
                "{}/_matrix/client/v3/profile/{carol}/displayname",
                org.base_url
            ),
            &org.admin.access_token,
            |_, body| body["displayname"] == json!("Carol of Org 2"),
        )
        .await;
        assert_eq!(
            body["displayname"],
            json!("Carol of Org 2"),
            "seen from {}",
            org.server_name
        );
    }

    // Deactivation is a ledger record too: the profile disappears everywhere.
    let (status, _) = call(
        reqwest::Method::PUT,
        format!("{}/_synapse/admin/v2/users/{carol}", org2.base_url),
        Some(&org2.admin.access_token),
        Some(json!({"deactivated": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get_until(
        format!("{}/_matrix/client/v3/profile/{carol}", org4.base_url),
        &org4.admin.access_token,
        |status, _| status == StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approval_across_organisations_sqlite() {
    approval_across_organisations(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approval_across_organisations_postgres() {
    approval_across_organisations(Db::Postgres).await;
}

//! Approval mode (MSC3866) seen by a standard client: registration and login fail with
//! `M_USER_AWAITING_APPROVAL` (a code ruma does not know) until the organisation's admin
//! approves the account through the Synapse admin API; then the same client logs in.

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use serde_json::json;

use crate::support::{client, errcode, register};

const AWAITING: &str = "M_USER_AWAITING_APPROVAL";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sdk_login_waits_for_approval() {
    let c = Consortium::start(4, Db::Sqlite, RegistrationMode::Approval).await;
    let org2 = c.org(2);
    let dora = format!("@dora:{}", org2.server_name);

    let dora_client = client(&org2.base_url).await;
    let error = register(&dora_client, "dora", "dora-password-1", false)
        .await
        .expect_err("registration waits for approval");
    assert_eq!(
        errcode(&error),
        Some((403, AWAITING.to_owned())),
        "{error:?}"
    );
    assert!(dora_client.user_id().is_none(), "no session");

    let error = dora_client
        .matrix_auth()
        .login_username("dora", "dora-password-1")
        .await
        .expect_err("login waits for approval");
    assert_eq!(
        errcode(&error),
        Some((403, AWAITING.to_owned())),
        "{error:?}"
    );
    assert!(dora_client.user_id().is_none(), "no session");

    // Org2's admin approves dora.
    let response = reqwest::Client::new()
        .put(format!("{}/_synapse/admin/v2/users/{dora}", org2.base_url))
        .bearer_auth(&org2.admin.access_token)
        .json(&json!({"approved": true}))
        .send()
        .await
        .expect("admin request");
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(status.as_u16(), 200, "{body}");
    assert_eq!(body["approved"], json!(true), "{body}");

    let login = dora_client
        .matrix_auth()
        .login_username("dora", "dora-password-1")
        .initial_device_display_name("Dora's desktop")
        .await
        .expect("login after approval");
    assert_eq!(login.user_id.as_str(), dora);
    let whoami = dora_client.whoami().await.expect("whoami");
    assert_eq!(whoami.user_id.as_str(), dora);
    assert_eq!(whoami.device_id, Some(login.device_id));

    c.shutdown().await;
}

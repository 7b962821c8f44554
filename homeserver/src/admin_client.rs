//! Creating a node's first admin through Synapse's shared-secret registration API, as the
//! devnet and the test consortium do (and as Synapse's `register_new_matrix_user` does).

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::services::shared_secret::compute_mac_hex;

/// An admin's credentials, as written to `admin.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdminCredentials {
    /// The admin's Matrix user id.
    pub user_id: String,
    /// The admin's password.
    pub password: String,
    /// A valid access token.
    pub access_token: String,
}

/// Registers `username` as an admin on the node at `base_url` with a random password.
pub async fn register_admin(
    http: &reqwest::Client,
    base_url: &str,
    shared_secret: &str,
    username: &str,
) -> anyhow::Result<AdminCredentials> {
    let password = hex::encode(rand::random::<[u8; 12]>());
    register_with_shared_secret(http, base_url, shared_secret, username, &password, true).await
}

/// Registers `username` through the shared-secret API of the running node at `base_url`
/// (the account is approved, and on a consortium node certified on the ledger).
pub async fn register_with_shared_secret(
    http: &reqwest::Client,
    base_url: &str,
    shared_secret: &str,
    username: &str,
    password: &str,
    admin: bool,
) -> anyhow::Result<AdminCredentials> {
    let url = format!("{base_url}/_synapse/admin/v1/register");
    let nonce: serde_json::Value = http
        .get(&url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let nonce = nonce["nonce"].as_str().context("no nonce")?.to_owned();
    let mac = compute_mac_hex(shared_secret, &nonce, username, password, admin);
    let response = http
        .post(&url)
        .json(&serde_json::json!({
            "nonce": nonce, "username": username, "password": password, "admin": admin, "mac": mac,
        }))
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    if !status.is_success() {
        bail!("registering {username} at {base_url} failed: {status} {body}");
    }
    Ok(AdminCredentials {
        user_id: body["user_id"].as_str().context("no user_id")?.to_owned(),
        password: password.to_owned(),
        access_token: body["access_token"]
            .as_str()
            .context("no access_token")?
            .to_owned(),
    })
}

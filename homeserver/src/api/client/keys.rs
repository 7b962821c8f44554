//! `POST /keys/upload`: a device publishes its identity keys and one-time keys. Web clients
//! (Hydrogen) cannot load a session without it. The keys are kept on this node for now;
//! publishing them on the ledger (key transparency) and `/keys/query` / `/keys/claim` come
//! with end-to-end encryption.

use std::collections::BTreeMap;

use axum::extract::State;
use ruma::api::client::keys::upload_keys;
use ruma::{OneTimeKeyAlgorithm, UInt};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::storage::device_keys::{self, UploadedKey};

fn uploaded(
    keys: &BTreeMap<ruma::OwnedOneTimeKeyId, ruma::serde::Raw<ruma::encryption::OneTimeKey>>,
) -> Vec<UploadedKey> {
    keys.iter()
        .map(|(id, key)| UploadedKey {
            algorithm: id.algorithm().to_string(),
            key_id: id.key_name().to_string(),
            json: key.json().get().to_owned(),
        })
        .collect()
}

/// `POST /_matrix/client/v3/keys/upload`
pub async fn upload_keys_route(
    State(state): AppStateRef,
    body: Ruma<upload_keys::v3::Request>,
) -> RouteResult<upload_keys::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    if let Some(keys) = &r.device_keys {
        #[derive(serde::Deserialize)]
        struct Owner {
            user_id: String,
            device_id: String,
        }
        let owner: Owner = keys
            .deserialize_as_unchecked()
            .map_err(|e| Error::bad_json(format!("device_keys: {e}")))?;
        if owner.user_id != sender.user_id.as_str() || owner.device_id != sender.device_id.as_str()
        {
            return Err(Error::invalid_param(
                "device_keys must be for the requesting user and device",
            ));
        }
    }
    device_keys::upload(
        &state.db.pool,
        sender.user_id.as_str(),
        sender.device_id.as_str(),
        r.device_keys.as_ref().map(|k| k.json().get()),
        &uploaded(&r.one_time_keys),
        &uploaded(&r.fallback_keys),
    )
    .await?;
    let counts = one_time_key_counts(&state, sender).await?;
    Ok(upload_keys::v3::Response::new(counts).into())
}

/// A device's unclaimed one-time keys by algorithm (also reported by `/sync`).
pub async fn one_time_key_counts(
    state: &crate::state::AppState,
    sender: &crate::services::auth::Sender,
) -> Result<BTreeMap<OneTimeKeyAlgorithm, UInt>> {
    let counts = device_keys::counts(
        &state.db.pool,
        sender.user_id.as_str(),
        sender.device_id.as_str(),
    )
    .await?;
    Ok(counts
        .into_iter()
        .map(|(alg, n)| {
            (
                OneTimeKeyAlgorithm::from(alg),
                UInt::try_from(n).unwrap_or_default(),
            )
        })
        .collect())
}

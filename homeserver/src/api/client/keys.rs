//! End-to-end encryption keys: `/keys/upload`, `/keys/query`, `/keys/claim`,
//! `/keys/changes`, `/keys/device_signing/upload` and `/keys/signatures/upload`. Every public
//! key goes on the ledger (key transparency); see `services::keys`.

use std::collections::BTreeMap;

use axum::extract::State;
use consort_bridge::CrossSigningKeys;
use ruma::api::client::keys::{
    claim_keys, get_key_changes, get_keys, upload_keys, upload_signatures, upload_signing_keys,
};
use ruma::serde::Raw;
use ruma::{OneTimeKeyAlgorithm, OwnedDeviceId, OwnedOneTimeKeyId, OwnedUserId, UInt};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::{Ruma, WithEmptyFields};
use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::services::keys::{self, KeyList};
use crate::services::tokens::parse_boundary;
use crate::services::uiaa;
use crate::state::AppState;

/// Raw JSON text as the `Raw<T>` ruma responses hold.
fn raw<T>(json: &str) -> Result<Raw<T>> {
    serde_json::value::RawValue::from_string(json.to_owned())
        .map(Raw::from_json)
        .map_err(|e| Error::Internal(format!("stored key JSON: {e}")))
}

fn key_list<T>(keys: &BTreeMap<OwnedOneTimeKeyId, Raw<T>>) -> KeyList {
    keys.iter()
        .map(|(id, key)| (id.to_string(), key.json().get().to_owned()))
        .collect()
}

/// `POST /_matrix/client/v3/keys/upload`
pub async fn upload_keys_route(
    State(state): AppStateRef,
    body: Ruma<upload_keys::v3::Request>,
) -> RouteResult<upload_keys::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    keys::upload(
        &state,
        sender,
        r.device_keys.as_ref().map(|k| k.json().get()),
        key_list(&r.one_time_keys),
        key_list(&r.fallback_keys),
    )
    .await?;
    let counts = one_time_key_counts(&state, sender).await?;
    Ok(upload_keys::v3::Response::new(counts).into())
}

/// The algorithms of a device's unused fallback keys (reported by `/sync` and sliding sync).
pub async fn unused_fallback_key_types(
    state: &AppState,
    sender: &Sender,
) -> Result<Vec<OneTimeKeyAlgorithm>> {
    Ok(consort_bridge::keys::read::unused_fallback_algorithms(
        state.chain()?.pool(),
        sender.user_id.as_str(),
        sender.device_id.as_str(),
    )
    .await
    .map_err(|e| Error::Internal(format!("fallback keys: {e}")))?
    .into_iter()
    .map(OneTimeKeyAlgorithm::from)
    .collect())
}

/// A device's unclaimed one-time keys by algorithm (also reported by `/sync`).
pub async fn one_time_key_counts(
    state: &AppState,
    sender: &Sender,
) -> Result<BTreeMap<OneTimeKeyAlgorithm, UInt>> {
    let pool = state.chain()?.pool();
    let counts = consort_bridge::keys::read::one_time_key_counts(
        pool,
        sender.user_id.as_str(),
        sender.device_id.as_str(),
    )
    .await
    .map_err(|e| Error::Internal(format!("key counts: {e}")))?;
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

/// `POST /_matrix/client/v3/keys/query`
pub async fn get_keys_route(
    State(state): AppStateRef,
    body: Ruma<get_keys::v3::Request>,
) -> Result<WithEmptyFields<get_keys::v3::Response>> {
    let sender = body.sender()?;
    let asked: BTreeMap<String, Vec<String>> = body
        .body
        .device_keys
        .iter()
        .map(|(u, ds)| (u.to_string(), ds.iter().map(|d| d.to_string()).collect()))
        .collect();
    let answer = keys::query(&state, sender, &asked).await?;
    let mut response = get_keys::v3::Response::new();
    for (user, devices) in answer.device_keys {
        let user = user_id(&user)?;
        let mut map = BTreeMap::new();
        for (device, json) in devices {
            map.insert(OwnedDeviceId::from(device), raw(&json)?);
        }
        response.device_keys.insert(user, map);
    }
    for (target, source) in [
        (&mut response.master_keys, answer.master_keys),
        (&mut response.self_signing_keys, answer.self_signing_keys),
        (&mut response.user_signing_keys, answer.user_signing_keys),
    ] {
        for (user, json) in source {
            target.insert(user_id(&user)?, raw(&json)?);
        }
    }
    Ok(WithEmptyFields {
        response,
        fields: &["failures", "device_keys"],
        lists: &[],
    })
}

fn user_id(user: &str) -> Result<OwnedUserId> {
    OwnedUserId::try_from(user).map_err(|e| Error::Internal(format!("stored user id: {e}")))
}

/// `POST /_matrix/client/v3/keys/claim`
pub async fn claim_keys_route(
    State(state): AppStateRef,
    body: Ruma<claim_keys::v3::Request>,
) -> Result<WithEmptyFields<claim_keys::v3::Response>> {
    let sender = body.sender()?;
    let asked: BTreeMap<String, BTreeMap<String, String>> = body
        .body
        .one_time_keys
        .iter()
        .map(|(u, ds)| {
            let devices = ds
                .iter()
                .map(|(d, alg)| (d.to_string(), alg.to_string()))
                .collect();
            (u.to_string(), devices)
        })
        .collect();
    let handed = keys::claim(&state, sender, &asked).await?;
    let mut one_time_keys = BTreeMap::new();
    for (user, devices) in handed {
        let mut per_device = BTreeMap::new();
        for (device, (key_id, json)) in devices {
            let key_id = OwnedOneTimeKeyId::try_from(key_id.as_str())
                .map_err(|e| Error::Internal(format!("stored key id: {e}")))?;
            per_device.insert(
                OwnedDeviceId::from(device),
                BTreeMap::from([(key_id, raw(&json)?)]),
            );
        }
        one_time_keys.insert(user_id(&user)?, per_device);
    }
    Ok(WithEmptyFields {
        response: claim_keys::v3::Response::new(one_time_keys),
        fields: &["failures", "one_time_keys"],
        lists: &[],
    })
}

/// `GET /_matrix/client/v3/keys/changes`
pub async fn get_key_changes_route(
    State(state): AppStateRef,
    body: Ruma<get_key_changes::v3::Request>,
) -> RouteResult<get_key_changes::v3::Response> {
    let sender = body.sender()?;
    let from = parse_boundary(&body.body.from)?;
    let to = parse_boundary(&body.body.to)?;
    let changed = keys::changed_users(&state, sender, from, to.max(from)).await?;
    let left = keys::left_users(&state, sender, from, to.max(from)).await?;
    let ids = |users: Vec<String>| users.iter().map(|u| user_id(u)).collect::<Result<Vec<_>>>();
    Ok(get_key_changes::v3::Response::new(ids(changed)?, ids(left)?).into())
}

/// `POST /_matrix/client/v3/keys/device_signing/upload`: the first upload needs no
/// user-interactive auth; replacing an existing master key does, as in Synapse.
pub async fn upload_signing_keys_route(
    State(state): AppStateRef,
    body: Ruma<upload_signing_keys::v3::Request>,
) -> RouteResult<upload_signing_keys::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    if keys::has_master_key(&state, sender.user_id.as_str()).await? {
        uiaa::check_password(&state, sender, r.auth.as_ref()).await?;
    }
    let json = |k: &Option<Raw<_>>| k.as_ref().map(|k: &Raw<_>| k.json().get().to_owned());
    let record = CrossSigningKeys {
        user_id: sender.user_id.to_string(),
        master: json(&r.master_key),
        self_signing: json(&r.self_signing_key),
        user_signing: json(&r.user_signing_key),
    };
    if record.master.is_none() && record.self_signing.is_none() && record.user_signing.is_none() {
        return Ok(upload_signing_keys::v3::Response::new().into());
    }
    keys::upload_cross_signing(&state, sender, record).await?;
    Ok(upload_signing_keys::v3::Response::new().into())
}

/// `POST /_matrix/client/v3/keys/signatures/upload`
pub async fn upload_signatures_route(
    State(state): AppStateRef,
    body: Ruma<upload_signatures::v3::Request>,
) -> Result<WithEmptyFields<upload_signatures::v3::Response>> {
    let sender = body.sender()?;
    let mut signed = Vec::new();
    for (user, keys) in &body.body.signed_keys {
        for (key_id, json) in keys.iter() {
            signed.push((user.to_string(), key_id.to_owned(), json.get().to_owned()));
        }
    }
    keys::upload_signatures(&state, sender, signed).await?;
    Ok(WithEmptyFields {
        response: upload_signatures::v3::Response::new(),
        fields: &["failures"],
        lists: &[],
    })
}

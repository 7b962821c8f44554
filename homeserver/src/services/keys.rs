//! End-to-end encryption keys through the ledger: uploads, queries, claims, cross-signing,
//! signatures and to-device messages. What a client uploads is checked here first (so a bad
//! upload costs no ledger space and gets Synapse's error), then goes on the ledger as a
//! record every node checks again; reads come from the projection, the same on every node.

use std::collections::{BTreeMap, BTreeSet};

use consort_bridge::keys::verify::{check_signed, object, public_key, str_field};
use consort_bridge::keys::{MAX_CLAIMS, MAX_KEYS_PER_UPLOAD, MAX_TO_DEVICE_MESSAGES, read};
use consort_bridge::position::position;
use consort_bridge::{CrossSigningKeys, KeyClaim, KeySignatures, KeyUpload, Record, ToDevice};
use http::StatusCode;
use ruma::api::error::ErrorKind;
use sqlx::Row;

use crate::error::{Error, Result};
use crate::services::auth::Sender;
use crate::services::registration_ledger::LedgerError;
use crate::state::AppState;

/// A key rejection by the ledger as the client sees it: 400, with the reason.
fn key_error(err: LedgerError) -> Error {
    match err {
        LedgerError::Rejected(reason) => Error::rejected(reason),
        other => Error::Ledger(other),
    }
}

fn db(err: sqlx::Error) -> Error {
    Error::Internal(format!("key projection: {err}"))
}

/// One-time and fallback keys as `(algorithm:key_id, JSON)`.
pub type KeyList = Vec<(String, String)>;

/// `/keys/upload`: checks the upload, puts what is new on the ledger, and answers the
/// device's unclaimed one-time key counts.
pub async fn upload(
    state: &AppState,
    sender: &Sender,
    device_keys: Option<&str>,
    one_time_keys: KeyList,
    fallback_keys: KeyList,
) -> Result<BTreeMap<String, u64>> {
    let chain = state.chain()?;
    let pool = chain.pool();
    let (user, device) = (sender.user_id.as_str(), sender.device_id.as_str());
    if one_time_keys.len() > MAX_KEYS_PER_UPLOAD || fallback_keys.len() > MAX_KEYS_PER_UPLOAD {
        return Err(Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TooLarge,
            format!("At most {MAX_KEYS_PER_UPLOAD} keys of each kind per upload"),
        ));
    }
    let stored = read::devices_of(pool, user)
        .await
        .map_err(db)?
        .into_iter()
        .find(|(d, _)| d == device)
        .map(|(_, json)| json);
    let mut new_device_keys = None;
    let mut device_key = stored
        .as_deref()
        .and_then(|s| object(s).ok())
        .and_then(|o| public_key(&o, &format!("ed25519:{device}")).map(str::to_owned));
    if let Some(json) = device_keys {
        let keys = object(json).map_err(Error::rejected)?;
        if str_field(&keys, "user_id") != Some(user) {
            return Err(Error::invalid_param(
                "User ID in device keys does not match the requesting user",
            ));
        }
        if str_field(&keys, "device_id") != Some(device) {
            return Err(Error::invalid_param(
                "Device ID in device keys does not match the requesting device",
            ));
        }
        let key = public_key(&keys, &format!("ed25519:{device}"))
            .ok_or_else(|| Error::invalid_param(format!("Device keys lack ed25519:{device}")))?
            .to_owned();
        check_signed(&keys, user, device, &key).map_err(|e| {
            Error::new(
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidParam,
                format!("Device keys are not signed by the device: {e}"),
            )
        })?;
        let canonical = ruma::CanonicalJsonValue::Object(keys).to_string();
        if stored.as_deref() != Some(canonical.as_str()) {
            new_device_keys = Some(canonical);
        }
        device_key = Some(key);
    }
    // One-time keys the ledger already holds with the same value are a retry: skipped.
    let mut new_one_time = Vec::new();
    for (key_id, json) in one_time_keys {
        check_key(user, device, device_key.as_deref(), &key_id, &json)?;
        let (algorithm, name) = key_id.split_once(':').unwrap_or_default();
        let existing = sqlx::query(
            "SELECT key_json FROM bridge_one_time_keys \
             WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 AND key_id = $4",
        )
        .bind(user)
        .bind(device)
        .bind(algorithm)
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(db)?;
        match existing {
            Some(row) if row.try_get::<String, _>(0).map_err(db)? != json => {
                return Err(Error::new(
                    StatusCode::BAD_REQUEST,
                    ErrorKind::Unknown,
                    format!("One time key {key_id} already exists with another value"),
                ));
            }
            Some(_) => {}
            None => new_one_time.push((key_id, json)),
        }
    }
    for (key_id, json) in &fallback_keys {
        check_key(user, device, device_key.as_deref(), key_id, json)?;
    }
    if new_device_keys.is_some() || !new_one_time.is_empty() || !fallback_keys.is_empty() {
        let record = Record::KeyUpload(KeyUpload {
            user_id: user.to_owned(),
            device_id: device.to_owned(),
            device_keys: new_device_keys,
            one_time_keys: new_one_time,
            fallback_keys,
        });
        chain.submit_record(&record).await.map_err(key_error)?;
    }
    read::one_time_key_counts(pool, user, device)
        .await
        .map_err(db)
}

/// The local form of the ledger's check of one one-time or fallback key.
fn check_key(
    user: &str,
    device: &str,
    device_key: Option<&str>,
    key_id: &str,
    json: &str,
) -> Result<()> {
    let Some((algorithm, _)) = key_id.split_once(':') else {
        return Err(Error::invalid_param(format!(
            "Key id {key_id} is not algorithm:key_id"
        )));
    };
    if algorithm.starts_with("signed_") {
        let device_key = device_key.ok_or_else(|| {
            Error::invalid_param("Upload the device keys before signed one-time keys")
        })?;
        let signed = object(json).map_err(Error::rejected)?;
        check_signed(&signed, user, device, device_key).map_err(|e| {
            Error::invalid_param(format!(
                "One-time key {key_id} is not signed by the device: {e}"
            ))
        })?;
    }
    Ok(())
}

/// What `/keys/query` answers, as JSON text per entry.
#[derive(Debug, Default)]
pub struct QueryAnswer {
    /// `user -> device -> device keys`.
    pub device_keys: BTreeMap<String, BTreeMap<String, String>>,
    /// `user -> master key`.
    pub master_keys: BTreeMap<String, String>,
    /// `user -> self-signing key`.
    pub self_signing_keys: BTreeMap<String, String>,
    /// The requester's own user-signing key.
    pub user_signing_keys: BTreeMap<String, String>,
}

/// `/keys/query`: the keys of the asked users (all devices when none are named), from the
/// ledger, so the answer does not depend on the users' own organisations being up.
pub async fn query(
    state: &AppState,
    sender: &Sender,
    asked: &BTreeMap<String, Vec<String>>,
) -> Result<QueryAnswer> {
    let pool = state.chain()?.pool();
    let mut answer = QueryAnswer::default();
    for (user, devices) in asked {
        let all = read::devices_of(pool, user).await.map_err(db)?;
        let wanted: BTreeMap<String, String> = all
            .into_iter()
            .filter(|(d, _)| devices.is_empty() || devices.contains(d))
            .collect();
        answer.device_keys.insert(user.clone(), wanted);
        let mut cross = read::cross_signing_of(pool, user).await.map_err(db)?;
        if let Some(k) = cross.remove("master") {
            answer.master_keys.insert(user.clone(), k);
        }
        if let Some(k) = cross.remove("self_signing") {
            answer.self_signing_keys.insert(user.clone(), k);
        }
        if user == sender.user_id.as_str()
            && let Some(k) = cross.remove("user_signing")
        {
            answer.user_signing_keys.insert(user.clone(), k);
        }
    }
    Ok(answer)
}

/// `/keys/claim`: one key per asked device, handed out by the ledger in block order, so no
/// one-time key goes to two claimers. Devices without keys are left out, as Synapse does.
/// Answers `user -> device -> (algorithm:key_id, key JSON)`.
pub async fn claim(
    state: &AppState,
    sender: &Sender,
    asked: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<BTreeMap<String, BTreeMap<String, (String, String)>>> {
    let chain = state.chain()?;
    let pool = chain.pool();
    let mut claims = Vec::new();
    for (user, devices) in asked {
        for (device, algorithm) in devices {
            if read::has_device(pool, user, device).await.map_err(db)? {
                claims.push((user.clone(), device.clone(), algorithm.clone()));
            }
        }
    }
    if claims.len() > MAX_CLAIMS {
        return Err(Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TooLarge,
            format!("At most {MAX_CLAIMS} keys per claim"),
        ));
    }
    let mut answer: BTreeMap<String, BTreeMap<String, (String, String)>> = BTreeMap::new();
    if claims.is_empty() {
        return Ok(answer);
    }
    let record = Record::KeyClaim(KeyClaim {
        user_id: sender.user_id.to_string(),
        claims,
    });
    let receipt = chain.submit_record(&record).await.map_err(key_error)?;
    let handed = read::claimed_at(pool, position(receipt.height, receipt.index))
        .await
        .map_err(db)?;
    for (user, device, key_id, json) in handed {
        answer
            .entry(user)
            .or_default()
            .insert(device, (key_id, json));
    }
    Ok(answer)
}

/// The users whose device lists changed in `[from, to)` and who share a room with `sender`
/// (the sender included), and those who joined or were invited to one of the sender's rooms
/// then: a client that looked up their keys before they had any learns to look again.
pub async fn changed_users(
    state: &AppState,
    sender: &Sender,
    from: i64,
    to: i64,
) -> Result<Vec<String>> {
    let pool = state.chain()?.pool();
    let user = sender.user_id.as_str();
    let mut out = read::users_newly_in_rooms_with(pool, user, from, to)
        .await
        .map_err(db)?;
    let changed = read::device_list_changes(pool, from, to)
        .await
        .map_err(db)?;
    if !changed.is_empty() {
        let mut near: BTreeSet<String> = read::users_sharing_rooms_with(pool, user)
            .await
            .map_err(db)?;
        near.insert(user.to_owned());
        out.extend(changed.intersection(&near).cloned());
    }
    Ok(out.into_iter().collect())
}

/// Users who shared a room with the syncing user at `from` and share none at `to` (as
/// `device_lists.left`): their devices need no more tracking.
pub async fn left_users(
    state: &AppState,
    sender: &Sender,
    from: i64,
    to: i64,
) -> Result<Vec<String>> {
    let pool = state.chain()?.pool();
    let user = sender.user_id.as_str();
    let gone = read::users_maybe_gone_from_rooms_with(pool, user, from, to)
        .await
        .map_err(db)?;
    if gone.is_empty() {
        return Ok(Vec::new());
    }
    let near = read::users_sharing_rooms_with(pool, user)
        .await
        .map_err(db)?;
    Ok(gone
        .into_iter()
        .filter(|u| u != user && !near.contains(u))
        .collect())
}

/// `/keys/device_signing/upload`: a user's cross-signing keys, on the ledger.
pub async fn upload_cross_signing(
    state: &AppState,
    sender: &Sender,
    keys: CrossSigningKeys,
) -> Result<()> {
    if keys.user_id != sender.user_id.as_str() {
        return Err(Error::forbidden("Cross-signing keys of another user"));
    }
    for json in [&keys.master, &keys.self_signing, &keys.user_signing]
        .into_iter()
        .flatten()
    {
        let o = object(json).map_err(Error::rejected)?;
        if str_field(&o, "user_id") != Some(sender.user_id.as_str()) {
            return Err(Error::invalid_param(
                "A cross-signing key names another user",
            ));
        }
    }
    state
        .chain()?
        .submit_record(&Record::CrossSigningKeys(keys))
        .await
        .map_err(key_error)?;
    Ok(())
}

/// Whether the user already has a master key (replacing it needs user-interactive auth).
pub async fn has_master_key(state: &AppState, user: &str) -> Result<bool> {
    let pool = state.chain()?.pool();
    Ok(read::cross_signing_of(pool, user)
        .await
        .map_err(db)?
        .contains_key("master"))
}

/// `/keys/signatures/upload`: signatures over devices and master keys, on the ledger.
pub async fn upload_signatures(
    state: &AppState,
    sender: &Sender,
    signed: Vec<(String, String, String)>,
) -> Result<()> {
    if signed.is_empty() {
        return Ok(());
    }
    let record = Record::KeySignatures(KeySignatures {
        user_id: sender.user_id.to_string(),
        signed,
    });
    state
        .chain()?
        .submit_record(&record)
        .await
        .map_err(key_error)?;
    Ok(())
}

/// `/sendToDevice`: the messages go on the ledger once per `(device, txn id)`.
pub async fn send_to_device(
    state: &AppState,
    sender: &Sender,
    event_type: &str,
    txn_id: &str,
    messages: Vec<(String, String, String)>,
) -> Result<()> {
    if messages.len() > MAX_TO_DEVICE_MESSAGES {
        return Err(Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TooLarge,
            format!("At most {MAX_TO_DEVICE_MESSAGES} to-device messages per request"),
        ));
    }
    let pool = &state.db.pool;
    let key = (
        sender.user_id.to_string(),
        sender.device_id.to_string(),
        format!("to-device:{txn_id}"),
    );
    let lock = state.txn_locks.lock_for(&key);
    let outcome = async {
        let _guard = lock.lock().await;
        let seen = sqlx::query(
            "SELECT 1 FROM hs_send_to_device_txns WHERE user_id = $1 AND device_id = $2 AND txn_id = $3",
        )
        .bind(&key.0)
        .bind(&key.1)
        .bind(txn_id)
        .fetch_optional(pool)
        .await?
        .is_some();
        if seen || messages.is_empty() {
            return Ok(());
        }
        let record = Record::ToDevice(ToDevice {
            sender: sender.user_id.to_string(),
            event_type: event_type.to_owned(),
            messages,
        });
        let limit = state.chain()?.genesis().params.max_tx_bytes;
        if record.encode().len() > limit {
            return Err(Error::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorKind::TooLarge,
                format!("To-device messages larger than {limit} bytes in one request"),
            ));
        }
        state
            .chain()?
            .submit_record(&record)
            .await
            .map_err(key_error)?;
        sqlx::query(
            "INSERT INTO hs_send_to_device_txns (user_id, device_id, txn_id) VALUES ($1, $2, $3)",
        )
        .bind(&key.0)
        .bind(&key.1)
        .bind(txn_id)
        .execute(pool)
        .await?;
        Ok(())
    }
    .await;
    drop(lock);
    state.txn_locks.release(&key);
    outcome
}

/// The to-device messages a `/sync` delivers to the sender's device: those after what the
/// device acknowledged (by syncing from a later token), up to `to`. Acknowledges `since`.
pub async fn to_device_inbox(
    state: &AppState,
    sender: &Sender,
    since: Option<i64>,
    to: i64,
) -> Result<Vec<read::ToDeviceMessage>> {
    let chain = state.chain()?;
    let (user, device) = (sender.user_id.as_str(), sender.device_id.as_str());
    let pool = &state.db.pool;
    let acked: i64 =
        sqlx::query("SELECT acked FROM hs_to_device_acks WHERE user_id = $1 AND device_id = $2")
            .bind(user)
            .bind(device)
            .fetch_optional(pool)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(0);
    let from = since.map_or(acked, |s| s.max(acked));
    if since.is_some_and(|s| s > acked) {
        sqlx::query(
            "INSERT INTO hs_to_device_acks (user_id, device_id, acked) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, device_id) DO UPDATE SET acked = excluded.acked",
        )
        .bind(user)
        .bind(device)
        .bind(from)
        .execute(pool)
        .await?;
    }
    read::to_device_for(chain.pool(), user, device, from, to)
        .await
        .map_err(db)
}

/// A device's deletion reaches the ledger when it had keys there.
pub async fn device_deleted(state: &AppState, user: &str, device: &str) -> Result<()> {
    let Ok(chain) = state.chain() else {
        return Ok(());
    };
    if !read::has_device(chain.pool(), user, device)
        .await
        .map_err(db)?
    {
        return Ok(());
    }
    let record = Record::DeviceRemoved {
        user_id: user.to_owned(),
        device_id: device.to_owned(),
    };
    chain.submit_record(&record).await.map_err(key_error)?;
    Ok(())
}

/// One entry of a user's key history, as every node answers it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyHistoryEntry {
    /// The block that carried the record.
    pub height: u64,
    /// The record's place in the block.
    pub index: u32,
    /// The transaction's hash (hex).
    pub tx_hash: Option<String>,
    /// The organisation that submitted it.
    pub org: String,
    /// What changed: `device_added`, `device_keys_replaced`, `device_removed`,
    /// `cross_signing` or `signatures`.
    pub kind: String,
    /// The public keys involved.
    pub detail: serde_json::Value,
}

/// Every key record of `user` in ledger order: Consort's key transparency log.
pub async fn key_history(state: &AppState, user: &str) -> Result<Vec<KeyHistoryEntry>> {
    let chain = state.chain()?;
    let mut out = Vec::new();
    for entry in read::key_log_of(chain.pool(), user).await.map_err(db)? {
        let height = consort_bridge::position::height_of(entry.pos);
        let index = consort_bridge::position::index_of(entry.pos);
        out.push(KeyHistoryEntry {
            height,
            index,
            tx_hash: chain.tx_hash_at(height, index).await?,
            org: entry.org,
            kind: entry.kind,
            detail: serde_json::from_str(&entry.detail)
                .map_err(|e| Error::Internal(format!("stored key log: {e}")))?,
        });
    }
    Ok(out)
}

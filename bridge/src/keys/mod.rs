//! End-to-end encryption keys on the ledger: device keys, one-time and fallback keys and their
//! claims, cross-signing keys and signatures, and to-device messages. Every record is checked
//! in full before anything is written, so a refused record changes nothing; every change of a
//! user's keys is written to the key log, the consortium's key transparency history.

pub mod read;
pub mod verify;

use consort_chain::Genesis;
use ruma::{CanonicalJsonObject, CanonicalJsonValue};
use serde_json::json;
use sqlx::{AnyConnection, Row};

use crate::records::{CrossSigningKeys, KeyClaim, KeySignatures, KeyUpload, ToDevice};
use crate::rejection::{Outcome, Rejection, RejectionKind};
use crate::users;
use crate::validate::{check_actor, no_nul};
use verify::{check_signed, merge_signatures, object, public_key, str_field};

/// The most one-time (or fallback) keys one upload may add.
pub const MAX_KEYS_PER_UPLOAD: usize = 1000;
/// The most keys one claim may ask for.
pub const MAX_CLAIMS: usize = 1000;
/// The most to-device messages one record may carry.
pub const MAX_TO_DEVICE_MESSAGES: usize = 10_000;

/// The key log kinds that change what other users must know of a user's devices
/// (`device_lists.changed`).
pub const DEVICE_LIST_KINDS: [&str; 5] = [
    "device_added",
    "device_keys_replaced",
    "device_removed",
    "cross_signing",
    "signatures",
];

/// Why a key record does not apply.
enum Fail {
    /// The consortium's rules refuse it; the reason is stored with the outcome.
    Refused(Rejection),
    /// The projection failed.
    Db(sqlx::Error),
}

impl From<sqlx::Error> for Fail {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

impl From<Rejection> for Fail {
    fn from(reason: Rejection) -> Self {
        Self::Refused(reason)
    }
}

type Step<T> = Result<T, Fail>;

/// Applies a step's result as the bridge stores outcomes.
fn finish(step: Step<()>) -> Result<Outcome, sqlx::Error> {
    match step {
        Ok(()) => Ok(Ok(())),
        Err(Fail::Refused(reason)) => Ok(Err(reason)),
        Err(Fail::Db(e)) => Err(e),
    }
}

fn refuse<T>(reason: Rejection) -> Step<T> {
    Err(Fail::Refused(reason))
}

/// The user acts for the submitting organisation and is registered.
async fn actor(conn: &mut AnyConnection, genesis: &Genesis, org: &str, user: &str) -> Step<()> {
    no_nul(&[user])?;
    let row = users::get_in(conn, user).await?;
    check_actor(genesis, org, user, row.as_ref())?;
    Ok(())
}

/// Canonical text of a key object, as stored.
fn text(object: &CanonicalJsonObject) -> String {
    CanonicalJsonValue::Object(object.clone()).to_string()
}

/// Appends one entry to the key log.
async fn log(
    conn: &mut AnyConnection,
    (pos, seq): (i64, i64),
    user: &str,
    org: &str,
    kind: &str,
    detail: serde_json::Value,
) -> Step<()> {
    sqlx::query(
        "INSERT INTO bridge_key_log (pos, seq, user_id, org, kind, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(pos)
    .bind(seq)
    .bind(user)
    .bind(org)
    .bind(kind)
    .bind(detail.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The stored device keys of a device.
async fn stored_device(
    conn: &mut AnyConnection,
    user: &str,
    device: &str,
) -> Step<Option<CanonicalJsonObject>> {
    let row = sqlx::query(
        "SELECT keys_json FROM bridge_device_keys WHERE user_id = $1 AND device_id = $2",
    )
    .bind(user)
    .bind(device)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => Ok(Some(object(&r.try_get::<String, _>(0)?)?)),
        None => Ok(None),
    }
}

/// The stored cross-signing key of one type.
async fn stored_cross_signing(
    conn: &mut AnyConnection,
    user: &str,
    key_type: &str,
) -> Step<Option<CanonicalJsonObject>> {
    let row = sqlx::query(
        "SELECT key_json FROM bridge_cross_signing_keys WHERE user_id = $1 AND key_type = $2",
    )
    .bind(user)
    .bind(key_type)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => Ok(Some(object(&r.try_get::<String, _>(0)?)?)),
        None => Ok(None),
    }
}

/// A one-time or fallback key checked against its device: `(algorithm, key name, JSON)`.
fn checked_key(
    user: &str,
    device: &str,
    device_key: Option<&str>,
    key_id: &str,
    json: &str,
) -> Step<(String, String, String)> {
    no_nul(&[key_id, json])?;
    let Some((algorithm, name)) = key_id.split_once(':') else {
        return refuse(Rejection::malformed(format!(
            "`{key_id}` is not algorithm:key_id"
        )));
    };
    if algorithm.is_empty() || name.is_empty() {
        return refuse(Rejection::malformed(format!(
            "`{key_id}` is not algorithm:key_id"
        )));
    }
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| Rejection::malformed(format!("one-time key {key_id}: {e}")))?;
    if algorithm.starts_with("signed_") {
        let Some(device_key) = device_key else {
            return refuse(Rejection::not_found(format!(
                "{user}'s device {device} has no device keys to check {key_id} against"
            )));
        };
        let signed = object(json)?;
        check_signed(&signed, user, device, device_key)
            .map_err(|e| e.context(format!("one-time key {key_id}")))?;
    } else if !value.is_string() && !value.is_object() {
        return refuse(Rejection::malformed(format!(
            "one-time key {key_id} is neither a key nor an object"
        )));
    }
    Ok((algorithm.to_owned(), name.to_owned(), json.to_owned()))
}

/// Validates and applies a `/keys/upload`.
pub async fn apply_upload(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    r: &KeyUpload,
    pos: i64,
) -> Result<Outcome, sqlx::Error> {
    finish(upload(conn, genesis, org, r, pos).await)
}

async fn upload(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    r: &KeyUpload,
    pos: i64,
) -> Step<()> {
    let (user, device) = (r.user_id.as_str(), r.device_id.as_str());
    actor(conn, genesis, org, user).await?;
    no_nul(&[device])?;
    if device.is_empty() || device.len() > 255 {
        return refuse(Rejection::malformed(
            "a device id must have 1 to 255 characters",
        ));
    }
    if r.one_time_keys.len() > MAX_KEYS_PER_UPLOAD || r.fallback_keys.len() > MAX_KEYS_PER_UPLOAD {
        return refuse(Rejection::limit(format!(
            "at most {MAX_KEYS_PER_UPLOAD} keys of each kind per upload"
        )));
    }
    let stored = stored_device(conn, user, device).await?;
    // The device keys, checked: for this user and device, signed by the device's own key.
    let new_device = match &r.device_keys {
        None => None,
        Some(json) => {
            no_nul(&[json])?;
            let keys = object(json)?;
            if str_field(&keys, "user_id") != Some(user)
                || str_field(&keys, "device_id") != Some(device)
            {
                return refuse(Rejection::forbidden(
                    "the device keys name another user or device",
                ));
            }
            let key = public_key(&keys, &format!("ed25519:{device}"))
                .ok_or_else(|| {
                    Rejection::malformed(format!("the device keys have no ed25519:{device} key"))
                })?
                .to_owned();
            check_signed(&keys, user, device, &key)
                .map_err(|e| e.context(format!("device keys of {device}")))?;
            Some((keys, key))
        }
    };
    let device_key = match (&new_device, &stored) {
        (Some((_, key)), _) => Some(key.clone()),
        (None, Some(keys)) => public_key(keys, &format!("ed25519:{device}")).map(str::to_owned),
        (None, None) => None,
    };
    let mut one_time = Vec::new();
    for (key_id, json) in &r.one_time_keys {
        let (algorithm, name, json) =
            checked_key(user, device, device_key.as_deref(), key_id, json)?;
        let existing = sqlx::query(
            "SELECT key_json FROM bridge_one_time_keys \
             WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 AND key_id = $4",
        )
        .bind(user)
        .bind(device)
        .bind(&algorithm)
        .bind(&name)
        .fetch_optional(&mut *conn)
        .await?;
        match existing {
            Some(row) if row.try_get::<String, _>(0)? != json => {
                return refuse(Rejection::new(
                    RejectionKind::AlreadyExists,
                    format!("one-time key {key_id} already exists with another value"),
                ));
            }
            Some(_) => {}
            None => one_time.push((algorithm, name, json)),
        }
    }
    let mut fallback = Vec::new();
    for (key_id, json) in &r.fallback_keys {
        fallback.push(checked_key(
            user,
            device,
            device_key.as_deref(),
            key_id,
            json,
        )?);
    }

    // Everything checked: write.
    if let Some((keys, key)) = new_device {
        let changed = stored.as_ref().is_none_or(|s| text(s) != text(&keys));
        if changed {
            sqlx::query(
                "INSERT INTO bridge_device_keys (user_id, device_id, keys_json, pos) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, device_id) DO UPDATE SET keys_json = excluded.keys_json, pos = excluded.pos",
            )
            .bind(user)
            .bind(device)
            .bind(text(&keys))
            .bind(pos)
            .execute(&mut *conn)
            .await?;
            let kind = if stored.is_some() {
                "device_keys_replaced"
            } else {
                "device_added"
            };
            let detail = json!({"device_id": device, "ed25519": key, "keys": keys.get("keys")});
            log(conn, (pos, 0), user, org, kind, detail).await?;
        }
    }
    for (algorithm, name, json) in one_time {
        sqlx::query(
            "INSERT INTO bridge_one_time_keys (user_id, device_id, algorithm, key_id, key_json, pos, claimed_pos) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(user)
        .bind(device)
        .bind(algorithm)
        .bind(name)
        .bind(json)
        .bind(pos)
        .execute(&mut *conn)
        .await?;
    }
    for (algorithm, name, json) in fallback {
        sqlx::query(
            "INSERT INTO bridge_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used, pos) \
             VALUES ($1, $2, $3, $4, $5, 0, $6) ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET \
             key_id = excluded.key_id, key_json = excluded.key_json, used = 0, pos = excluded.pos",
        )
        .bind(user)
        .bind(device)
        .bind(algorithm)
        .bind(name)
        .bind(json)
        .bind(pos)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Validates and applies the removal of a device's keys.
pub async fn apply_device_removed(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    (user, device): (&str, &str),
    pos: i64,
) -> Result<Outcome, sqlx::Error> {
    finish(device_removed(conn, genesis, org, user, device, pos).await)
}

async fn device_removed(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    user: &str,
    device: &str,
    pos: i64,
) -> Step<()> {
    actor(conn, genesis, org, user).await?;
    no_nul(&[device])?;
    if stored_device(conn, user, device).await?.is_none() {
        return refuse(Rejection::not_found(format!(
            "{user} has no device {device} with keys"
        )));
    }
    for table in [
        "bridge_device_keys",
        "bridge_one_time_keys",
        "bridge_fallback_keys",
    ] {
        let sql = format!("DELETE FROM {table} WHERE user_id = $1 AND device_id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user)
            .bind(device)
            .execute(&mut *conn)
            .await?;
    }
    log(
        conn,
        (pos, 0),
        user,
        org,
        "device_removed",
        json!({"device_id": device}),
    )
    .await
}

/// Validates and applies a claim: each asked key is the device's lowest unclaimed one-time
/// key of the algorithm, else its fallback key; what was handed out is kept for the
/// claiming node to answer with.
pub async fn apply_claim(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    r: &KeyClaim,
    pos: i64,
) -> Result<Outcome, sqlx::Error> {
    finish(claim(conn, genesis, org, r, pos).await)
}

async fn claim(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    r: &KeyClaim,
    pos: i64,
) -> Step<()> {
    actor(conn, genesis, org, &r.user_id).await?;
    if r.claims.len() > MAX_CLAIMS {
        return refuse(Rejection::limit(format!(
            "at most {MAX_CLAIMS} keys per claim"
        )));
    }
    for (user, device, algorithm) in &r.claims {
        no_nul(&[user, device, algorithm])?;
    }
    for (seq, (user, device, algorithm)) in r.claims.iter().enumerate() {
        let free = sqlx::query(
            "SELECT key_id, key_json FROM bridge_one_time_keys WHERE user_id = $1 AND device_id = $2 \
             AND algorithm = $3 AND claimed_pos IS NULL ORDER BY key_id LIMIT 1",
        )
        .bind(user)
        .bind(device)
        .bind(algorithm)
        .fetch_optional(&mut *conn)
        .await?;
        let handed = if let Some(row) = free {
            let key_id: String = row.try_get(0)?;
            sqlx::query(
                "UPDATE bridge_one_time_keys SET claimed_pos = $1 WHERE user_id = $2 \
                 AND device_id = $3 AND algorithm = $4 AND key_id = $5",
            )
            .bind(pos)
            .bind(user)
            .bind(device)
            .bind(algorithm)
            .bind(&key_id)
            .execute(&mut *conn)
            .await?;
            Some((key_id, row.try_get::<String, _>(1)?))
        } else {
            let fallback = sqlx::query(
                "SELECT key_id, key_json FROM bridge_fallback_keys \
                 WHERE user_id = $1 AND device_id = $2 AND algorithm = $3",
            )
            .bind(user)
            .bind(device)
            .bind(algorithm)
            .fetch_optional(&mut *conn)
            .await?;
            match fallback {
                Some(row) => {
                    sqlx::query(
                        "UPDATE bridge_fallback_keys SET used = 1 \
                         WHERE user_id = $1 AND device_id = $2 AND algorithm = $3",
                    )
                    .bind(user)
                    .bind(device)
                    .bind(algorithm)
                    .execute(&mut *conn)
                    .await?;
                    Some((row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?))
                }
                None => None,
            }
        };
        if let Some((key_id, json)) = handed {
            sqlx::query(
                "INSERT INTO bridge_key_claims (pos, seq, user_id, device_id, key_id, key_json) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(pos)
            .bind(seq as i64)
            .bind(user)
            .bind(device)
            .bind(format!("{algorithm}:{key_id}"))
            .bind(json)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// The single public key of a cross-signing key object, as `(key name, key)`.
fn cross_signing_key<'a>(
    keys: &'a CanonicalJsonObject,
    user: &str,
    usage: &str,
) -> Step<(&'a str, &'a str)> {
    if str_field(keys, "user_id") != Some(user) {
        return refuse(Rejection::forbidden(format!(
            "the {usage} key names another user"
        )));
    }
    let has_usage = matches!(keys.get("usage"), Some(CanonicalJsonValue::Array(u))
        if u.iter().any(|v| matches!(v, CanonicalJsonValue::String(s) if s == usage)));
    if !has_usage {
        return refuse(Rejection::malformed(format!(
            "the {usage} key lacks usage `{usage}`"
        )));
    }
    let Some(CanonicalJsonValue::Object(map)) = keys.get("keys") else {
        return refuse(Rejection::malformed(format!("the {usage} key has no keys")));
    };
    let mut entries = map.iter();
    match (entries.next(), entries.next()) {
        (Some((id, CanonicalJsonValue::String(key))), None) => {
            let name = id
                .strip_prefix("ed25519:")
                .ok_or_else(|| Rejection::malformed(format!("the {usage} key is not ed25519")))?;
            Ok((name, key))
        }
        _ => refuse(Rejection::malformed(format!(
            "the {usage} key must hold exactly one key"
        ))),
    }
}

/// Validates and applies a user's cross-signing keys.
pub async fn apply_cross_signing(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    r: &CrossSigningKeys,
    pos: i64,
) -> Result<Outcome, sqlx::Error> {
    finish(cross_signing(conn, genesis, org, r, pos).await)
}

async fn cross_signing(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    r: &CrossSigningKeys,
    pos: i64,
) -> Step<()> {
    let user = r.user_id.as_str();
    actor(conn, genesis, org, user).await?;
    let parse = |json: &Option<String>| -> Step<Option<CanonicalJsonObject>> {
        match json {
            Some(j) => {
                no_nul(&[j])?;
                Ok(Some(object(j)?))
            }
            None => Ok(None),
        }
    };
    let master = parse(&r.master)?;
    let self_signing = parse(&r.self_signing)?;
    let user_signing = parse(&r.user_signing)?;
    if master.is_none() && self_signing.is_none() && user_signing.is_none() {
        return refuse(Rejection::malformed("no cross-signing key given"));
    }
    let master_now = match &master {
        Some(m) => Some(m.clone()),
        None => stored_cross_signing(conn, user, "master").await?,
    };
    let Some(master_now) = master_now else {
        return refuse(Rejection::not_found(format!(
            "{user} has no master key to sign the others"
        )));
    };
    let (master_name, master_key) = cross_signing_key(&master_now, user, "master")?;
    let mut detail = serde_json::Map::new();
    detail.insert("master".into(), json!(master_key));
    for (usage, key) in [
        ("self_signing", &self_signing),
        ("user_signing", &user_signing),
    ] {
        if let Some(k) = key {
            let (_, public) = cross_signing_key(k, user, usage)?;
            check_signed(k, user, master_name, master_key)
                .map_err(|e| e.context(format!("the {usage} key")))?;
            detail.insert(usage.into(), json!(public));
        }
    }
    for (key_type, key) in [
        ("master", &master),
        ("self_signing", &self_signing),
        ("user_signing", &user_signing),
    ] {
        if let Some(k) = key {
            sqlx::query(
                "INSERT INTO bridge_cross_signing_keys (user_id, key_type, key_json, pos) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, key_type) DO UPDATE SET key_json = excluded.key_json, pos = excluded.pos",
            )
            .bind(user)
            .bind(key_type)
            .bind(text(k))
            .bind(pos)
            .execute(&mut *conn)
            .await?;
        }
    }
    log(conn, (pos, 0), user, org, "cross_signing", detail.into()).await
}

/// Validates and applies signatures: a user's self-signing key over their devices, a device
/// over its user's master key, or a user-signing key over another user's master key.
pub async fn apply_signatures(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    r: &KeySignatures,
    pos: i64,
) -> Result<Outcome, sqlx::Error> {
    finish(signatures(conn, genesis, org, r, pos).await)
}

/// Where a checked signature goes.
enum Signed {
    Device(String, String, CanonicalJsonObject),
    Master(String, CanonicalJsonObject),
}

async fn signatures(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    r: &KeySignatures,
    pos: i64,
) -> Step<()> {
    let signer = r.user_id.as_str();
    actor(conn, genesis, org, signer).await?;
    if r.signed.is_empty() || r.signed.len() > MAX_KEYS_PER_UPLOAD {
        return refuse(Rejection::limit(format!(
            "1 to {MAX_KEYS_PER_UPLOAD} signed keys per upload"
        )));
    }
    let mut plan = Vec::new();
    for (target, key_id, json) in &r.signed {
        no_nul(&[target, key_id, json])?;
        let signed = object(json)?;
        if let (true, Some(mut device)) =
            (target == signer, stored_device(conn, target, key_id).await?)
        {
            let ssk = stored_cross_signing(conn, signer, "self_signing")
                .await?
                .ok_or_else(|| Rejection::not_found(format!("{signer} has no self-signing key")))?;
            let (name, key) = cross_signing_key(&ssk, signer, "self_signing")?;
            same_object(&device, &signed, key_id)?;
            check_signed(&signed, signer, name, key)?;
            merge_signatures(&mut device, &signed);
            plan.push(Signed::Device(target.clone(), key_id.clone(), device));
            continue;
        }
        let mut master = stored_cross_signing(conn, target, "master")
            .await?
            .ok_or_else(|| {
                Rejection::not_found(format!("{target} has no device or master key {key_id}"))
            })?;
        let (name, _) = cross_signing_key(&master, target, "master")?;
        if name != key_id {
            return refuse(Rejection::not_found(format!(
                "{target} has no device or master key {key_id}"
            )));
        }
        same_object(&master, &signed, key_id)?;
        if target == signer {
            // A device of the user vouches for the master key.
            let mut vouched = false;
            for device_id in signature_key_names(&signed, signer) {
                let device = stored_device(conn, signer, &device_id).await?;
                if let Some(key) = device
                    .as_ref()
                    .and_then(|d| public_key(d, &format!("ed25519:{device_id}")))
                {
                    check_signed(&signed, signer, &device_id, key)?;
                    vouched = true;
                }
            }
            if !vouched {
                return refuse(Rejection::bad_signature(format!(
                    "no device of {signer} signed the master key"
                )));
            }
        } else {
            let usk = stored_cross_signing(conn, signer, "user_signing")
                .await?
                .ok_or_else(|| Rejection::not_found(format!("{signer} has no user-signing key")))?;
            let (usk_name, usk_key) = cross_signing_key(&usk, signer, "user_signing")?;
            check_signed(&signed, signer, usk_name, usk_key)?;
        }
        merge_signatures(&mut master, &signed);
        plan.push(Signed::Master(target.clone(), master));
    }
    for (seq, step) in plan.into_iter().enumerate() {
        let (target, detail) = match step {
            Signed::Device(user, device, keys) => {
                sqlx::query(
                    "UPDATE bridge_device_keys SET keys_json = $1 WHERE user_id = $2 AND device_id = $3",
                )
                .bind(text(&keys))
                .bind(&user)
                .bind(&device)
                .execute(&mut *conn)
                .await?;
                (user, json!({"signer": signer, "device_id": device}))
            }
            Signed::Master(user, keys) => {
                sqlx::query(
                    "UPDATE bridge_cross_signing_keys SET key_json = $1 WHERE user_id = $2 AND key_type = 'master'",
                )
                .bind(text(&keys))
                .bind(&user)
                .execute(&mut *conn)
                .await?;
                (user, json!({"signer": signer, "master": true}))
            }
        };
        log(conn, (pos, seq as i64), &target, org, "signatures", detail).await?;
    }
    Ok(())
}

/// The signed object must be the stored one (signatures aside).
fn same_object(
    stored: &CanonicalJsonObject,
    signed: &CanonicalJsonObject,
    key_id: &str,
) -> Step<()> {
    let strip = |o: &CanonicalJsonObject| {
        let mut o = o.clone();
        o.remove("signatures");
        o.remove("unsigned");
        text(&o)
    };
    if strip(stored) != strip(signed) {
        return refuse(Rejection::forbidden(format!(
            "the signed {key_id} differs from the published key"
        )));
    }
    Ok(())
}

/// The ed25519 key names `signer` signed `object` with.
fn signature_key_names(object: &CanonicalJsonObject, signer: &str) -> Vec<String> {
    match object.get("signatures") {
        Some(CanonicalJsonValue::Object(s)) => match s.get(signer) {
            Some(CanonicalJsonValue::Object(by_key)) => by_key
                .keys()
                .filter_map(|k| k.strip_prefix("ed25519:").map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Validates and applies to-device messages: each goes to its device (or, for `*`, to every
/// device of the user with keys on the ledger).
pub async fn apply_to_device(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    r: &ToDevice,
    pos: i64,
) -> Result<Outcome, sqlx::Error> {
    finish(to_device(conn, genesis, org, r, pos).await)
}

async fn to_device(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    r: &ToDevice,
    pos: i64,
) -> Step<()> {
    actor(conn, genesis, org, &r.sender).await?;
    no_nul(&[&r.event_type])?;
    if r.event_type.is_empty() {
        return refuse(Rejection::malformed("a to-device message needs a type"));
    }
    if r.messages.len() > MAX_TO_DEVICE_MESSAGES {
        return refuse(Rejection::limit(format!(
            "at most {MAX_TO_DEVICE_MESSAGES} to-device messages per record"
        )));
    }
    let mut deliveries = Vec::new();
    for (user, device, content) in &r.messages {
        no_nul(&[user, device, content])?;
        if !serde_json::from_str::<serde_json::Value>(content).is_ok_and(|v| v.is_object()) {
            return refuse(Rejection::malformed(
                "to-device content must be a JSON object",
            ));
        }
        if device == "*" {
            let rows = sqlx::query(
                "SELECT device_id FROM bridge_device_keys WHERE user_id = $1 ORDER BY device_id",
            )
            .bind(user)
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
                deliveries.push((user, row.try_get::<String, _>(0)?, content));
            }
        } else {
            deliveries.push((user, device.clone(), content));
        }
    }
    for (seq, (user, device, content)) in deliveries.into_iter().enumerate() {
        sqlx::query(
            "INSERT INTO bridge_to_device (pos, seq, user_id, device_id, sender, event_type, content) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(pos)
        .bind(seq as i64)
        .bind(user)
        .bind(device)
        .bind(&r.sender)
        .bind(&r.event_type)
        .bind(content)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

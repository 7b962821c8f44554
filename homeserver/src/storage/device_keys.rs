//! Rows of `hs_device_keys` and `hs_one_time_keys`: what this node's devices upload with
//! `/keys/upload`. Org-local until device keys are published on the ledger.

use std::collections::BTreeMap;

use sqlx::{AnyPool, Row};

use super::StorageError;

/// A one-time or fallback key as uploaded.
#[derive(Debug, Clone)]
pub struct UploadedKey {
    /// Algorithm (`signed_curve25519`).
    pub algorithm: String,
    /// Key id after the algorithm.
    pub key_id: String,
    /// The key object as JSON text.
    pub json: String,
}

/// Stores a device's keys and one-time keys in one transaction; an already uploaded
/// one-time key id keeps its first value (clients must not change a published key).
pub async fn upload(
    pool: &AnyPool,
    user_id: &str,
    device_id: &str,
    device_keys: Option<&str>,
    one_time: &[UploadedKey],
    fallback: &[UploadedKey],
) -> Result<(), StorageError> {
    let mut tx = pool.begin().await?;
    if let Some(keys) = device_keys {
        sqlx::query(
            "INSERT INTO hs_device_keys (user_id, device_id, keys_json) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, device_id) DO UPDATE SET keys_json = excluded.keys_json",
        )
        .bind(user_id)
        .bind(device_id)
        .bind(keys)
        .execute(&mut *tx)
        .await?;
    }
    if !fallback.is_empty() {
        // A new fallback key replaces the previous one of its algorithm.
        for key in fallback {
            sqlx::query(
                "DELETE FROM hs_one_time_keys WHERE user_id = $1 AND device_id = $2 \
                 AND algorithm = $3 AND fallback = 1",
            )
            .bind(user_id)
            .bind(device_id)
            .bind(&key.algorithm)
            .execute(&mut *tx)
            .await?;
        }
    }
    for (keys, is_fallback) in [(one_time, 0_i64), (fallback, 1)] {
        for key in keys {
            sqlx::query(
                "INSERT INTO hs_one_time_keys (user_id, device_id, algorithm, key_id, key_json, fallback) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING",
            )
            .bind(user_id)
            .bind(device_id)
            .bind(&key.algorithm)
            .bind(&key.key_id)
            .bind(&key.json)
            .bind(is_fallback)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Unclaimed one-time keys of a device, by algorithm.
pub async fn counts(
    pool: &AnyPool,
    user_id: &str,
    device_id: &str,
) -> Result<BTreeMap<String, u64>, StorageError> {
    let rows = sqlx::query(
        "SELECT algorithm, COUNT(*) FROM hs_one_time_keys \
         WHERE user_id = $1 AND device_id = $2 AND fallback = 0 GROUP BY algorithm",
    )
    .bind(user_id)
    .bind(device_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? as u64)))
        .collect::<Result<_, sqlx::Error>>()?)
}

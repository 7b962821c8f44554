//! Applying committed blocks to the projection: one SQL transaction per block, records in
//! order, every outcome stored; the outcome digest goes into the chain's app hash.

use consort_chain::crypto::Hash32;
use consort_chain::executor::BoxFuture;
use consort_chain::store::PayloadKeeper;
use consort_chain::{Block, BlockExecutor, Executed, Genesis};
use std::sync::Arc;

use sqlx::{AnyConnection, AnyPool, Row};
use tokio::sync::watch;

use crate::effect::{Effect, block_digest};
use crate::position::{MAX_BLOCK_TXS, position};
use crate::records::Record;
use crate::rejection::{Outcome, Rejection, RejectionKind};
use crate::validate::{subject, validate};
use crate::{contacts, directory, keys, media, receipts, rooms, users};

/// The bridge: validates and applies blocks to this node's projection.
#[derive(Clone)]
pub struct Bridge {
    pool: AnyPool,
    genesis: Genesis,
    applied: Arc<watch::Sender<u64>>,
    rejections: Arc<crate::rejection::RejectionCounts>,
}

impl Bridge {
    /// A bridge over a migrated pool. Call [`Bridge::load_applied`] before reading
    /// [`Bridge::watch_applied`].
    pub fn new(pool: AnyPool, genesis: Genesis) -> Self {
        Self {
            pool,
            genesis,
            applied: Arc::new(watch::channel(0).0),
            rejections: Default::default(),
        }
    }

    /// Records rejected by this node since it started, by kind.
    pub fn rejections(&self) -> &crate::rejection::RejectionCounts {
        &self.rejections
    }

    /// Reads the last applied height from the projection (after a restart).
    pub async fn load_applied(&self) -> Result<u64, sqlx::Error> {
        let height: i64 = sqlx::query("SELECT applied_height FROM bridge_state WHERE id = 1")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        self.applied.send_if_modified(|h| {
            let changed = *h < height as u64;
            *h = (*h).max(height as u64);
            changed
        });
        Ok(height as u64)
    }

    /// The height of the last block whose records are committed in the projection; it
    /// changes right after each block's SQL transaction commits, so a reader bounded by it
    /// sees whole blocks only.
    pub fn watch_applied(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// The projection's pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The consortium.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The outcome of the transaction at (height, index): `Ok(())` accepted, `Err` rejected,
    /// `None` not applied yet.
    pub async fn outcome(&self, height: u64, index: u32) -> Result<Option<Outcome>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT accepted, reason, code FROM bridge_outcomes WHERE height = $1 AND idx = $2",
        )
        .bind(height as i64)
        .bind(i64::from(index))
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => None,
            Some(r) if r.try_get::<i64, _>(0)? != 0 => Some(Ok(())),
            Some(r) => {
                let code: Option<String> = r.try_get(2)?;
                let kind = code
                    .as_deref()
                    .and_then(RejectionKind::from_code)
                    .ok_or_else(|| {
                        sqlx::Error::Protocol(format!(
                            "the rejection at {height}/{index} has no known code ({code:?})"
                        ))
                    })?;
                let message: Option<String> = r.try_get(1)?;
                Some(Err(Rejection::new(kind, message.unwrap_or_default())))
            }
        })
    }

    async fn apply(&self, block: &Block) -> Result<Executed, sqlx::Error> {
        let height = block.header.height;
        if block.txs.len() > MAX_BLOCK_TXS {
            return Err(sqlx::Error::Protocol(format!(
                "block {height} holds more than {MAX_BLOCK_TXS} transactions"
            )));
        }
        let mut tx = consort_chain::store::begin_write(&self.pool).await?;
        let applied: i64 = sqlx::query("SELECT applied_height FROM bridge_state WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if applied as u64 >= height {
            // Already applied before a crash: answer the same digest from stored outcomes.
            let rows = sqlx::query(
                "SELECT idx, effect FROM bridge_outcomes WHERE height = $1 ORDER BY idx",
            )
            .bind(height as i64)
            .fetch_all(&mut *tx)
            .await?;
            let digests: Vec<Hash32> = rows
                .iter()
                .map(|r| {
                    let digest: Vec<u8> = r.try_get(1)?;
                    Hash32::try_from(digest).map_err(|_| {
                        sqlx::Error::Protocol(format!(
                            "the stored effect of a record at height {height} is not a digest"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            // The stored block keeps its payloads: which ones the projection holds is not
            // worked out again.
            return Ok(Executed::outcome(block_digest(&digests)));
        }
        let mut digests = Vec::with_capacity(block.txs.len());
        let mut rejected = Vec::new();
        let mut kept = Vec::new();
        for (idx, t) in block.txs.iter().enumerate() {
            let mut effect = Effect::default();
            let record = Record::decode(&t.payload);
            let outcome = match &record {
                Ok(record) => {
                    self.apply_one(
                        &mut tx,
                        &t.org,
                        (record, &t.payload),
                        (height, block.header.time_ms),
                        (idx as u32, &mut effect),
                    )
                    .await?
                }
                Err(_) => Err(Rejection::malformed("the payload is not a Consort record")),
            };
            if outcome.is_err() {
                effect.clear();
            } else if matches!(record, Ok(Record::RoomEvent(_))) {
                // Its PDU is now in bridge_room_events, byte for byte (a record's encoding
                // is canonical): the stored block need not hold it again.
                kept.push(idx as u32);
            }
            let record_digest = effect.digest(idx as u32, &outcome);
            digests.push(record_digest);
            let (code, reason) = match &outcome {
                Ok(()) => (None, None),
                Err(r) => {
                    rejected.push(r.kind());
                    (Some(r.code()), Some(r.message()))
                }
            };
            sqlx::query("INSERT INTO bridge_outcomes (height, idx, accepted, reason, code, effect) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(height as i64)
                .bind(idx as i64)
                .bind(i64::from(outcome.is_ok()))
                .bind(reason)
                .bind(code)
                .bind(record_digest.to_vec())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE bridge_state SET applied_height = $1 WHERE id = 1")
            .bind(height as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        for kind in rejected {
            self.rejections.add(kind);
        }
        self.applied.send_if_modified(|h| {
            let changed = *h < height;
            *h = (*h).max(height);
            changed
        });
        Ok(Executed {
            outcome: block_digest(&digests),
            kept,
        })
    }

    /// Validates and applies one record; `Err` is a rejection (nothing changed).
    async fn apply_one(
        &self,
        conn: &mut AnyConnection,
        org: &str,
        (record, payload): (&Record, &[u8]),
        (height, time_ms): (u64, u64),
        (idx, effect): (u32, &mut Effect),
    ) -> Result<Outcome, sqlx::Error> {
        let pos = position(height, idx);
        // Room events write their own effect; a key claim's effect is what it handed out;
        // every other record's effect is the record itself, once accepted.
        match record {
            Record::RoomEvent(_) | Record::RoomEventBatch(_) => {}
            Record::KeyClaim(claim) => {
                let outcome = keys::apply_claim(conn, &self.genesis, org, claim, pos).await?;
                if outcome.is_ok() {
                    let handed = sqlx::query(
                        "SELECT user_id, device_id, key_id FROM bridge_key_claims WHERE pos = $1 ORDER BY seq",
                    )
                    .bind(pos)
                    .fetch_all(&mut *conn)
                    .await?;
                    for row in handed {
                        for column in 0..3 {
                            effect.field(row.try_get::<String, _>(column)?.as_bytes());
                        }
                    }
                }
                return Ok(outcome);
            }
            _ => effect.field(&consort_chain::crypto::sha256(&[payload])),
        }
        let g = &self.genesis;
        let room_outcome = match record {
            Record::RoomEvent(ev) => Some(
                rooms::apply_room_event(conn, g, org, ev, (height, idx, 0), time_ms, effect).await,
            ),
            Record::RoomEventBatch(evs) => {
                Some(rooms::apply_batch(conn, g, org, evs, (height, idx), time_ms, effect).await)
            }
            Record::RoomAlias(r) => Some(directory::apply_alias(conn, g, org, r, pos).await),
            Record::RoomDirectory(r) => {
                Some(directory::apply_directory(conn, g, org, r, pos).await)
            }
            Record::Receipt(r) => Some(receipts::apply_receipt(conn, g, org, r, pos).await),
            _ => None,
        };
        let key_outcome = match record {
            Record::KeyUpload(r) => Some(keys::apply_upload(conn, g, org, r, pos).await),
            Record::DeviceRemoved { user_id, device_id } => {
                Some(keys::apply_device_removed(conn, g, org, (user_id, device_id), pos).await)
            }
            Record::CrossSigningKeys(r) => {
                Some(keys::apply_cross_signing(conn, g, org, r, pos).await)
            }
            Record::KeySignatures(r) => Some(keys::apply_signatures(conn, g, org, r, pos).await),
            Record::ToDevice(r) => Some(keys::apply_to_device(conn, g, org, r, pos).await),
            Record::Contact(r) => {
                let at = contacts::At {
                    height,
                    time_ms,
                    pos,
                };
                Some(contacts::apply_contact(conn, g, org, r, at).await)
            }
            Record::OrgPolicy { policy, value } => {
                if let Err(reason) = crate::validate::no_nul(&[policy, value]) {
                    return Ok(Err(reason));
                }
                Some(contacts::apply_org_policy(conn, org, policy, value, pos).await)
            }
            Record::MediaPin(r) => Some(media::apply_pin(conn, g, org, r, pos).await),
            Record::MediaUnpin(r) => Some(media::apply_unpin(conn, g, org, r, pos).await),
            _ => None,
        };
        if let Some(outcome) = key_outcome {
            return outcome;
        }
        if let Some(outcome) = room_outcome {
            return outcome.map_err(|e| match e {
                rooms::store::StoreError::Db(e) => e,
                other => sqlx::Error::Protocol(other.to_string()),
            });
        }
        let existing = match subject(record) {
            // PostgreSQL text cannot hold NUL: refuse before querying, the same on every backend.
            Some(user) if user.contains('\0') => {
                return Ok(Err(Rejection::malformed("the user id contains NUL")));
            }
            Some(user) => users::get_in(conn, user).await?,
            None => None,
        };
        if let Err(reason) = validate(record, org, &self.genesis, existing.as_ref()) {
            return Ok(Err(reason));
        }
        match record {
            Record::Registration(r) => {
                sqlx::query(
                    "INSERT INTO bridge_users (user_id, org, approved_by, approved_at_ms, height, deactivated) \
                     VALUES ($1, $2, $3, $4, $5, 0)",
                )
                .bind(&r.user_id)
                .bind(&r.org)
                .bind(&r.approved_by)
                .bind(r.approved_at_ms as i64)
                .bind(height as i64)
                .execute(&mut *conn)
                .await?;
            }
            Record::Deactivation { user_id, .. } => {
                sqlx::query("UPDATE bridge_users SET deactivated = 1 WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?;
            }
            Record::RoomEvent(_)
            | Record::RoomEventBatch(_)
            | Record::RoomAlias(_)
            | Record::RoomDirectory(_)
            | Record::Receipt(_)
            | Record::KeyUpload(_)
            | Record::DeviceRemoved { .. }
            | Record::KeyClaim(_)
            | Record::CrossSigningKeys(_)
            | Record::KeySignatures(_)
            | Record::ToDevice(_)
            | Record::Contact(_)
            | Record::OrgPolicy { .. }
            | Record::MediaPin(_)
            | Record::MediaUnpin(_) => {
                return Ok(Err(Rejection::new(
                    RejectionKind::Unsupported,
                    "room and key records are applied above",
                )));
            }
            Record::Profile {
                user_id,
                displayname,
                avatar_url,
            } => {
                sqlx::query(
                    "UPDATE bridge_users SET displayname = $1, avatar_url = $2 WHERE user_id = $3",
                )
                .bind(displayname)
                .bind(avatar_url)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(Ok(()))
    }
}

impl BlockExecutor for Bridge {
    fn execute<'a>(&'a self, block: &'a Block) -> BoxFuture<'a, Result<Executed, String>> {
        Box::pin(async move {
            self.apply(block)
                .await
                .map_err(|e| format!("bridge apply failed: {e}"))
        })
    }

    fn payload_keeper(&self) -> Option<Arc<dyn PayloadKeeper>> {
        Some(Arc::new(crate::kept::KeptRoomEvents::new(
            self.pool.clone(),
        )))
    }
}

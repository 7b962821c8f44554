//! Room aliases and the room directory, both on the ledger so every organisation resolves
//! `#name:server` and lists published rooms the same way.

use consort_bridge::rooms::read;
use consort_bridge::{Record, RoomAlias, RoomDirectory};
use ruma::{RoomId, UserId};

use super::send::{store_error, submit_record};
use crate::error::Result;
use crate::state::AppState;

/// The room an alias points to.
pub async fn resolve(state: &AppState, alias: &str) -> Result<Option<String>> {
    let chain = state.chain()?;
    Ok(read::alias(chain.pool(), alias)
        .await
        .map_err(store_error)?
        .map(|(room, _)| room))
}

/// Binds (or, with `None`, removes) an alias of this organisation.
pub async fn set_alias(
    state: &AppState,
    user: &UserId,
    alias: &str,
    room_id: Option<&RoomId>,
) -> Result<()> {
    let record = Record::RoomAlias(RoomAlias {
        alias: alias.to_owned(),
        room_id: room_id.map(|r| r.to_string()),
        user_id: user.to_string(),
    });
    submit_record(state, &record).await
}

/// Publishes a room in (or withdraws it from) the consortium's directory.
pub async fn set_visibility(
    state: &AppState,
    user: &UserId,
    room_id: &RoomId,
    public: bool,
) -> Result<()> {
    let record = Record::RoomDirectory(RoomDirectory {
        room_id: room_id.to_string(),
        user_id: user.to_string(),
        public,
    });
    submit_record(state, &record).await
}

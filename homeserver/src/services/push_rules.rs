//! Push rules: the spec's server-default rule set, changed by the user through the
//! `/pushrules` API and kept as the `m.push_rules` account data clients also read in `/sync`.

use ruma::UserId;
use ruma::push::Ruleset;
use serde_json::json;

use crate::error::{Error, Result};
use crate::services::account_data;
use crate::state::AppState;
use crate::storage;

/// The account data type push rules are kept under.
pub const PUSH_RULES: &str = "m.push_rules";

/// The user's rule set: their saved one, else the server default.
pub async fn ruleset(state: &AppState, user: &UserId) -> Result<Ruleset> {
    let stored = storage::account_data::get(&state.db.pool, user.as_str(), "", PUSH_RULES).await?;
    let Some(text) = stored else {
        return Ok(Ruleset::server_default(user));
    };
    #[derive(serde::Deserialize)]
    struct Stored {
        global: Ruleset,
    }
    serde_json::from_str::<Stored>(&text)
        .map(|s| s.global)
        .map_err(|e| Error::Internal(format!("stored push rules: {e}")))
}

/// Saves the user's rule set (and announces it to `/sync`).
pub async fn save(state: &AppState, user: &UserId, rules: &Ruleset) -> Result<()> {
    account_data::set_unchecked(state, user, None, PUSH_RULES, &json!({ "global": rules })).await?;
    state.unread.forget_user(user.as_str());
    Ok(())
}

//! Who is calling: resolves an access token to its account and device.

use ruma::{OwnedDeviceId, OwnedUserId};

use crate::{
    error::{Error, Result},
    services::credentials::token_digest,
    state::AppState,
    storage::tokens,
};

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The account.
    pub user_id: OwnedUserId,
    /// The device whose token was used.
    pub device_id: OwnedDeviceId,
    /// Whether the account administers this node.
    pub is_admin: bool,
    /// Whether an admin suspended the account: it may read, leave and log out, not act.
    pub suspended: bool,
}

impl Sender {
    /// 403 `M_USER_SUSPENDED` for a suspended account, before anything it would change.
    pub fn active(&self) -> Result<()> {
        if self.suspended {
            return Err(Error::new(
                http::StatusCode::FORBIDDEN,
                ruma::api::error::ErrorKind::UserSuspended,
                "Your account has been suspended by a server administrator",
            ));
        }
        Ok(())
    }
}

/// Resolves an access token; unknown, revoked or deactivated tokens answer `M_UNKNOWN_TOKEN`.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Sender> {
    let Some(account) = tokens::account(&state.db.pool, &token_digest(token)).await? else {
        return Err(Error::unknown_token());
    };
    if account.deactivated || !account.approved {
        return Err(Error::unknown_token());
    }
    if account
        .expires_ts
        .is_some_and(|at| at <= crate::services::now_ms())
    {
        return Err(Error::soft_logout());
    }
    if account.locked {
        return Err(Error::locked());
    }
    let user_id = OwnedUserId::try_from(account.owner.user_id)
        .map_err(|e| Error::Internal(format!("stored user id is invalid: {e}")))?;
    Ok(Sender {
        user_id,
        device_id: OwnedDeviceId::from(account.owner.device_id),
        is_admin: account.is_admin,
        suspended: account.suspended,
    })
}

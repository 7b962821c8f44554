//! Account lifecycle on this node: create, approve (through the ledger), log in, change
//! password, deactivate. Shared by the client API, the admin API and the CLI.

use ruma::{MilliSecondsSinceUnixEpoch, OwnedUserId, UserId};

use crate::{
    error::{Error, Result},
    services::{credentials, now_ms},
    state::AppState,
    storage::{
        devices, tokens,
        users::{self, NewUser, UserRow},
    },
};

/// Longest user id the spec allows.
const MAX_USER_ID_LEN: usize = 255;

/// Checks a requested localpart the way Synapse does: lowercase `a-z 0-9 . _ = - /`, not
/// starting with `_` (reserved for application services), and a user id of at most 255 bytes.
pub fn validate_localpart(state: &AppState, localpart: &str) -> Result<()> {
    if localpart.is_empty() {
        return Err(Error::invalid_username("User ID cannot be empty"));
    }
    if !localpart
        .bytes()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'=' | b'-' | b'/'))
    {
        return Err(Error::invalid_username(
            "User ID can only contain characters a-z, 0-9, or '=_-./'",
        ));
    }
    if localpart.starts_with('_') {
        return Err(Error::invalid_username("User ID may not begin with '_'"));
    }
    if localpart.len() + state.server_name.as_str().len() + 2 > MAX_USER_ID_LEN {
        return Err(Error::invalid_username(
            "User ID may not be longer than 255 characters",
        ));
    }
    Ok(())
}

/// The user id of a local localpart.
pub fn local_user_id(state: &AppState, localpart: &str) -> Result<OwnedUserId> {
    UserId::parse(format!("@{localpart}:{}", state.server_name))
        .map_err(|e| Error::invalid_username(format!("Invalid user ID: {e}")))
}

/// Turns what a client typed at login (`alice` or `@alice:server`) into a local user id.
pub fn resolve_login_user(state: &AppState, user: &str) -> Result<OwnedUserId> {
    if user.starts_with('@') {
        let user_id = UserId::parse(user).map_err(|_| Error::invalid_param("Invalid user ID"))?;
        if user_id.server_name() != state.server_name {
            return Err(Error::forbidden("Invalid username or password"));
        }
        Ok(user_id)
    } else {
        local_user_id(state, &user.to_lowercase())
            .map_err(|_| Error::forbidden("Invalid username or password"))
    }
}

/// What `create` needs.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Requested localpart (validated here).
    pub localpart: String,
    /// Password, hashed here.
    pub password: Option<String>,
    /// Make the account an admin of this node.
    pub admin: bool,
    /// Initial display name (defaults to the localpart).
    pub displayname: Option<String>,
    /// Approve at once: `Some(approver)` publishes the registration now (`approver` may be
    /// `None` for open registration and operator tools); `None` leaves the account pending.
    pub approve_now: Option<Option<OwnedUserId>>,
}

/// Creates an account. When approved at once, the ledger must accept the registration first or
/// nothing stays written.
pub async fn create(state: &AppState, account: NewAccount) -> Result<UserRow> {
    validate_localpart(state, &account.localpart)?;
    let user_id = local_user_id(state, &account.localpart)?;
    if users::get(&state.db.pool, user_id.as_str())
        .await?
        .is_some()
        || state.ledger.is_user_id_taken_elsewhere(&user_id).await?
    {
        return Err(Error::user_in_use());
    }
    let password_hash = match account.password {
        Some(password) => Some(credentials::hash_password(password).await?),
        None => None,
    };
    let displayname = account
        .displayname
        .unwrap_or_else(|| account.localpart.clone());
    let inserted = users::insert(
        &state.db.pool,
        &NewUser {
            user_id: user_id.as_str(),
            localpart: &account.localpart,
            password_hash: password_hash.as_deref(),
            is_admin: account.admin,
            created_ts: now_ms(),
            displayname: Some(&displayname),
        },
    )
    .await?;
    if !inserted {
        return Err(Error::user_in_use());
    }
    if let Some(approver) = account.approve_now
        && let Err(err) = approve(state, &user_id, approver.as_deref()).await
    {
        if let Err(cleanup) = users::delete_unapproved(&state.db.pool, user_id.as_str()).await {
            tracing::error!(%user_id, error = %cleanup, "cannot remove an unpublished account");
        }
        return Err(err);
    }
    users::get(&state.db.pool, user_id.as_str())
        .await?
        .ok_or_else(|| Error::Internal("account vanished after creation".into()))
}

/// Publishes the registration on the ledger and, once accepted, makes the account usable.
pub async fn approve(
    state: &AppState,
    user_id: &UserId,
    approved_by: Option<&UserId>,
) -> Result<()> {
    let Some(user) = users::get(&state.db.pool, user_id.as_str()).await? else {
        return Err(Error::not_found("User not found"));
    };
    if user.approved {
        return Ok(());
    }
    if user.deactivated {
        return Err(Error::user_deactivated());
    }
    let now = MilliSecondsSinceUnixEpoch::now();
    state
        .ledger
        .publish_registration(user_id, approved_by, now)
        .await?;
    if user.displayname.is_some() || user.avatar_url.is_some() {
        state
            .ledger
            .publish_profile(
                user_id,
                user.displayname.as_deref(),
                user.avatar_url.as_deref(),
            )
            .await?;
    }
    users::set_approved(
        &state.db.pool,
        user_id.as_str(),
        approved_by.map(UserId::as_str),
        now_ms(),
    )
    .await?;
    tracing::info!(%user_id, approved_by = ?approved_by, "registration approved");
    Ok(())
}

/// Checks a password login and the account's state; returns the account.
pub async fn check_login(state: &AppState, user_id: &UserId, password: String) -> Result<UserRow> {
    let invalid = || Error::forbidden("Invalid username or password");
    let Some(user) = users::get(&state.db.pool, user_id.as_str()).await? else {
        return Err(invalid());
    };
    if user.deactivated {
        return Err(Error::user_deactivated());
    }
    let Some(hash) = user.password_hash.clone() else {
        return Err(invalid());
    };
    if !credentials::verify_password(password, hash).await? {
        return Err(invalid());
    }
    if !user.approved {
        return Err(Error::AwaitingApproval);
    }
    Ok(user)
}

/// A session just opened: the device, its access token and, when asked for, a refresh token
/// with the access token's lifetime.
#[derive(Debug, Clone)]
pub struct Session {
    /// The device.
    pub device_id: String,
    /// Its access token.
    pub access_token: String,
    /// `(refresh token, access token lifetime)`, for clients that asked for one.
    pub refresh: Option<(String, std::time::Duration)>,
}

/// Opens a session: creates (or reuses) the device and issues a fresh access token for it
/// (expiring, with a refresh token, when `refreshable`), revoking the device's older tokens.
pub async fn open_session(
    state: &AppState,
    user_id: &UserId,
    device_id: Option<String>,
    (display_name, ip): (Option<&str>, Option<&str>),
    refreshable: bool,
) -> Result<Session> {
    let device_id = device_id.unwrap_or_else(credentials::new_device_id);
    let now = now_ms();
    let mut tx = state.db.pool.begin().await?;
    devices::upsert(
        &mut *tx,
        user_id.as_str(),
        &device_id,
        display_name,
        now,
        ip,
    )
    .await?;
    tokens::delete_for_device(&mut *tx, user_id.as_str(), &device_id).await?;
    let (access_token, refresh) = issue_tokens(
        &mut tx,
        state,
        (user_id.as_str(), &device_id),
        refreshable,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Session {
        device_id,
        access_token,
        refresh,
    })
}

/// Exchanges a refresh token (once) for a new access token and refresh token of the same
/// device, revoking the device's older tokens; 401 `M_UNKNOWN_TOKEN` for one unknown or
/// already used.
pub async fn refresh_session(state: &AppState, refresh_token: &str) -> Result<Session> {
    let now = now_ms();
    let mut tx = state.db.pool.begin().await?;
    let Some(owner) =
        tokens::take_refresh(&mut tx, &credentials::token_digest(refresh_token)).await?
    else {
        return Err(Error::unknown_token());
    };
    tokens::delete_for_device(&mut *tx, &owner.user_id, &owner.device_id).await?;
    let (access_token, refresh) = issue_tokens(
        &mut tx,
        state,
        (&owner.user_id, &owner.device_id),
        true,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Session {
        device_id: owner.device_id,
        access_token,
        refresh,
    })
}

async fn issue_tokens(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    state: &AppState,
    owner: (&str, &str),
    refreshable: bool,
    now: i64,
) -> Result<(String, Option<(String, std::time::Duration)>)> {
    let access_token = credentials::new_access_token();
    let lifetime =
        std::time::Duration::from_millis(state.config.refreshable_access_token_lifetime_ms);
    let expires = refreshable.then(|| now + lifetime.as_millis() as i64);
    tokens::insert_kind(
        &mut **tx,
        &credentials::token_digest(&access_token),
        owner,
        now,
        tokens::TokenKind::Access(expires),
    )
    .await?;
    let refresh = if refreshable {
        let refresh_token = credentials::new_access_token();
        tokens::insert_kind(
            &mut **tx,
            &credentials::token_digest(&refresh_token),
            owner,
            now,
            tokens::TokenKind::Refresh,
        )
        .await?;
        Some((refresh_token, lifetime))
    } else {
        None
    };
    Ok((access_token, refresh))
}

/// Deletes devices and their tokens, in one transaction.
pub async fn delete_devices(state: &AppState, user_id: &UserId, device_ids: &[&str]) -> Result<()> {
    let mut tx = state.db.pool.begin().await?;
    for device_id in device_ids {
        tokens::delete_for_device(&mut *tx, user_id.as_str(), device_id).await?;
        devices::delete(&mut *tx, user_id.as_str(), device_id).await?;
    }
    tx.commit().await?;
    // Every organisation learns that the devices' keys are gone.
    for device_id in device_ids {
        crate::services::keys::device_deleted(state, user_id.as_str(), device_id).await?;
    }
    Ok(())
}

/// Sets a new password; with `logout_except` set, logs out every other device.
pub async fn change_password(
    state: &AppState,
    user_id: &UserId,
    new_password: String,
    logout_except: Option<Option<&str>>,
) -> Result<()> {
    let hash = credentials::hash_password(new_password).await?;
    let mut tx = state.db.pool.begin().await?;
    users::set_password_hash(&mut *tx, user_id.as_str(), &hash).await?;
    if let Some(keep) = logout_except {
        let kept = devices::list(&mut *tx, user_id.as_str()).await?;
        for device in kept.iter().filter(|d| Some(d.device_id.as_str()) != keep) {
            tokens::delete_for_device(&mut *tx, user_id.as_str(), &device.device_id).await?;
            devices::delete(&mut *tx, user_id.as_str(), &device.device_id).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Deactivates an account: publishes it on the ledger, then forgets password, devices, tokens.
pub async fn deactivate(state: &AppState, user_id: &UserId) -> Result<()> {
    let Some(user) = users::get(&state.db.pool, user_id.as_str()).await? else {
        return Err(Error::not_found("User not found"));
    };
    if user.deactivated {
        return Ok(());
    }
    if user.approved {
        state.ledger.publish_deactivation(user_id).await?;
    }
    let mut tx = state.db.pool.begin().await?;
    users::set_deactivated(&mut *tx, user_id.as_str()).await?;
    tokens::delete_for_user(&mut *tx, user_id.as_str(), None).await?;
    devices::delete_all(&mut *tx, user_id.as_str()).await?;
    tx.commit().await?;
    tracing::info!(%user_id, "account deactivated");
    Ok(())
}

/// Changes a local user's public profile: published on the ledger first (for approved
/// accounts, so other organisations see it), then stored here. `None` leaves a field as is;
/// `Some(None)` clears it.
pub async fn set_profile(
    state: &AppState,
    user_id: &UserId,
    displayname: Option<Option<&str>>,
    avatar_url: Option<Option<&str>>,
) -> Result<()> {
    let Some(user) = users::get(&state.db.pool, user_id.as_str()).await? else {
        return Err(Error::not_found("User not found"));
    };
    let new_name = displayname.unwrap_or(user.displayname.as_deref());
    let new_avatar = avatar_url.unwrap_or(user.avatar_url.as_deref());
    if user.approved && !user.deactivated {
        state
            .ledger
            .publish_profile(user_id, new_name, new_avatar)
            .await?;
    }
    if displayname.is_some() {
        users::set_displayname(&state.db.pool, user_id.as_str(), new_name).await?;
    }
    if avatar_url.is_some() {
        users::set_avatar_url(&state.db.pool, user_id.as_str(), new_avatar).await?;
    }
    Ok(())
}

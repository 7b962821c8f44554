//! Reads of the contacts projection: one user's view of a pair, their contacts and pending
//! requests, and the step log.

use sqlx::{AnyConnection, AnyPool, Row};

/// One side's view of a relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactState {
    /// The user asked; the counterpart has not answered.
    Outgoing,
    /// The counterpart asked; the user has not answered.
    Incoming,
    /// Both agreed.
    Bound,
}

impl ContactState {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "outgoing" => Some(Self::Outgoing),
            "incoming" => Some(Self::Incoming),
            "bound" => Some(Self::Bound),
            _ => None,
        }
    }
}

/// `user`'s view of the pair, inside a block's transaction.
pub async fn state_in(
    conn: &mut AnyConnection,
    user: &str,
    other: &str,
) -> Result<Option<ContactState>, sqlx::Error> {
    let row = sqlx::query("SELECT state FROM bridge_contacts WHERE user_id = $1 AND other = $2")
        .bind(user)
        .bind(other)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => ContactState::parse(&r.try_get::<String, _>(0)?),
        None => None,
    })
}

/// `user`'s view of the pair, from the pool.
pub async fn state_of(
    pool: &AnyPool,
    user: &str,
    other: &str,
) -> Result<Option<ContactState>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    state_in(&mut conn, user, other).await
}

/// One relationship as `user` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRow {
    /// The counterpart.
    pub other: String,
    /// Its state.
    pub state: ContactState,
    /// The height of the step that made it so.
    pub height: u64,
    /// That block's time (Unix ms).
    pub at_ms: u64,
}

/// Every relationship of `user` (bound and pending), by counterpart.
pub async fn contacts_of(pool: &AnyPool, user: &str) -> Result<Vec<ContactRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT other, state, height, at_ms FROM bridge_contacts WHERE user_id = $1 ORDER BY other",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let state: String = r.try_get(1)?;
        let Some(state) = ContactState::parse(&state) else {
            return Err(sqlx::Error::Protocol(format!("contact state {state}")));
        };
        out.push(ContactRow {
            other: r.try_get(0)?,
            state,
            height: r.try_get::<i64, _>(2)? as u64,
            at_ms: r.try_get::<i64, _>(3)? as u64,
        });
    }
    Ok(out)
}

/// One accepted step of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactStep {
    /// Its ledger position.
    pub pos: i64,
    /// Who acted.
    pub user_id: String,
    /// Towards whom.
    pub other: String,
    /// `request`, `accept`, `decline` or `unbind`.
    pub action: String,
    /// The pair's state after it: `pending`, `bound` or `none`.
    pub result: String,
    /// The submitting organisation.
    pub org: String,
    /// The block's height.
    pub height: u64,
    /// The block's time (Unix ms).
    pub at_ms: u64,
}

/// Every step that involved `user`, oldest first.
pub async fn log_of(pool: &AnyPool, user: &str) -> Result<Vec<ContactStep>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT pos, user_id, other, action, result, org, height, at_ms FROM bridge_contact_log \
         WHERE user_id = $1 OR other = $1 ORDER BY pos",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ContactStep {
                pos: r.try_get(0)?,
                user_id: r.try_get(1)?,
                other: r.try_get(2)?,
                action: r.try_get(3)?,
                result: r.try_get(4)?,
                org: r.try_get(5)?,
                height: r.try_get::<i64, _>(6)? as u64,
                at_ms: r.try_get::<i64, _>(7)? as u64,
            })
        })
        .collect()
}

/// Ledger positions of contact steps involving `user` in `[from, to)`: whether their view
/// changed since a sync token.
pub async fn changed_since(
    pool: &AnyPool,
    user: &str,
    from: i64,
    to: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "SELECT 1 FROM bridge_contact_log WHERE (user_id = $1 OR other = $1) AND pos >= $2 AND pos < $3 LIMIT 1",
    )
    .bind(user)
    .bind(from)
    .bind(to)
    .fetch_optional(pool)
    .await?
    .is_some())
}

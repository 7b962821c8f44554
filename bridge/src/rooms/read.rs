//! Read queries over the rooms projection, for the homeserver's client API: events by
//! ledger position, state at a position, memberships, receipts, aliases. Every query takes an
//! upper bound `end` (exclusive position) so a caller reads one consistent ledger prefix even
//! while later blocks are being applied.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::store::StoreError;

/// An event of the projection as stored: its PDU text (redacted form once redacted) and the
/// columns that locate it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Event id.
    pub event_id: String,
    /// Room id.
    pub room_id: String,
    /// Ledger position.
    pub pos: i64,
    /// Event type.
    pub kind: String,
    /// State key, for state events.
    pub state_key: Option<String>,
    /// Sender.
    pub sender: String,
    /// Canonical PDU JSON.
    pub json: String,
    /// The redaction that redacted it, if any.
    pub redacted_by: Option<String>,
    /// For `m.room.member`: the membership.
    pub membership: Option<String>,
}

/// A `LIMIT` clause with the value written into the statement. A bound `LIMIT ?` is worse
/// on SQLite: it plans the statement with the value bound when it was prepared, and prepares
/// it again each time another value is bound (a `/sync` pages with two limits per room). The
/// value is an integer, so nothing can be injected.
fn limit_clause(limit: i64) -> String {
    format!("LIMIT {limit}")
}

const COLUMNS: &str =
    "event_id, room_id, pos, event_type, state_key, sender, json, redacted_by, membership";

fn from_row(r: &AnyRow) -> Result<StoredEvent, sqlx::Error> {
    Ok(StoredEvent {
        event_id: r.try_get(0)?,
        room_id: r.try_get(1)?,
        pos: r.try_get(2)?,
        kind: r.try_get(3)?,
        state_key: r.try_get(4)?,
        sender: r.try_get(5)?,
        json: r.try_get(6)?,
        redacted_by: r.try_get(7)?,
        membership: r.try_get(8)?,
    })
}

fn rows(rows: Vec<AnyRow>) -> Result<Vec<StoredEvent>, StoreError> {
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// One event by id.
pub async fn event(pool: &AnyPool, event_id: &str) -> Result<Option<StoredEvent>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM bridge_room_events WHERE event_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(event_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Up to `limit` events of a room with `from <= pos < to`, newest first when `backwards`.
pub async fn page(
    pool: &AnyPool,
    room_id: &str,
    from: i64,
    to: i64,
    backwards: bool,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let order = if backwards { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {COLUMNS} FROM bridge_room_events WHERE room_id = $1 AND pos >= $2 AND pos < $3 \
         ORDER BY pos {order} {}",
        limit_clause(limit)
    );
    rows(
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(room_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?,
    )
}

/// Up to `limit` events of a room below position `end`, nearest to `ts` (Unix ms) in one
/// direction: at or after it, oldest first, when `forwards`; at or before it, newest first,
/// otherwise. `after` continues a previous page from its last `(origin_server_ts, pos)`.
pub async fn near_timestamp(
    pool: &AnyPool,
    room_id: &str,
    (ts, forwards): (i64, bool),
    end: i64,
    after: Option<(i64, i64)>,
    limit: i64,
) -> Result<Vec<(i64, StoredEvent)>, StoreError> {
    let (cmp, order, next) = if forwards {
        (">=", "ASC", ">")
    } else {
        ("<=", "DESC", "<")
    };
    let (last_ts, last_pos) = after.unwrap_or(if forwards {
        (i64::MIN, i64::MIN)
    } else {
        (i64::MAX, i64::MAX)
    });
    let sql = format!(
        "SELECT {COLUMNS}, origin_server_ts FROM bridge_room_events \
         WHERE room_id = $1 AND origin_server_ts {cmp} $2 AND pos < $3 \
         AND (origin_server_ts {next} $4 OR (origin_server_ts = $4 AND pos {next} $5)) \
         ORDER BY origin_server_ts {order}, pos {order} {}",
        limit_clause(limit)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(room_id)
        .bind(ts)
        .bind(end)
        .bind(last_ts)
        .bind(last_pos)
        .fetch_all(pool)
        .await?;
    let found = rows
        .iter()
        .map(|r| Ok((r.try_get::<i64, _>("origin_server_ts")?, from_row(r)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(found)
}

/// Up to `limit` events of a room that relate to `parent` (`content.m.relates_to`), with
/// `from <= pos < to`, newest first when `backwards`; only those of `rel_type` and of
/// `event_type` when given.
pub async fn relations(
    pool: &AnyPool,
    room_id: &str,
    parent: &str,
    (rel_type, event_type): (Option<&str>, Option<&str>),
    (from, to, backwards): (i64, i64, bool),
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let order = if backwards { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {COLUMNS} FROM bridge_room_events WHERE room_id = $1 AND relates_to = $2 \
         AND ($3 = '' OR rel_type = $3) AND ($4 = '' OR event_type = $4) \
         AND pos >= $5 AND pos < $6 ORDER BY pos {order} {}",
        limit_clause(limit)
    );
    rows(
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(room_id)
            .bind(parent)
            .bind(rel_type.unwrap_or(""))
            .bind(event_type.unwrap_or(""))
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?,
    )
}

/// `$first, $first+1, ...`: `n` numbered placeholders for an `IN (...)` list.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A query whose first `rooms.len()` parameters are `rooms`, for the `room_id IN (...)` lists
/// of the reads that serve many rooms at once.
fn with_rooms<'q>(
    sql: String,
    rooms: &[&'q str],
) -> sqlx::query::Query<'q, sqlx::Any, <sqlx::Any as sqlx::Database>::Arguments> {
    rooms
        .iter()
        .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, room| {
            q.bind(*room)
        })
}

/// The most values one `IN (...)` list binds: far below either database's limit.
pub const IN_LIST_MAX: usize = 500;

/// The unredacted events that may be bundled with any of `parents` (edits, thread replies
/// and references), each given with its room (at most [`IN_LIST_MAX`] parents, of any
/// rooms): `(parent, candidate)` pairs of one room, each parent's candidates oldest first by
/// `(origin_server_ts, event_id)`, the order the specification uses to pick the latest edit.
/// An event relating to a parent of another room is no candidate.
pub async fn bundle_candidates_of(
    pool: &AnyPool,
    parents: &[(&str, &str)],
) -> Result<Vec<(String, StoredEvent)>, StoreError> {
    if parents.is_empty() {
        return Ok(Vec::new());
    }
    let mut rooms: Vec<&str> = parents.iter().map(|(room, _)| *room).collect();
    rooms.sort_unstable();
    rooms.dedup();
    let sql = format!(
        "SELECT {COLUMNS}, relates_to FROM bridge_room_events WHERE room_id IN ({}) \
         AND relates_to IN ({}) AND rel_type IN ('m.replace', 'm.thread', 'm.reference') \
         AND redacted_by IS NULL ORDER BY relates_to, origin_server_ts, event_id",
        placeholders(1, rooms.len()),
        placeholders(1 + rooms.len(), parents.len())
    );
    let mut q = with_rooms(sql, &rooms);
    for (_, parent) in parents {
        q = q.bind(*parent);
    }
    let wanted: std::collections::HashSet<(&str, &str)> = parents.iter().copied().collect();
    let mut out = Vec::new();
    for r in q.fetch_all(pool).await? {
        let parent: String = r.try_get(9)?;
        let candidate = from_row(&r)?;
        if wanted.contains(&(candidate.room_id.as_str(), parent.as_str())) {
            out.push((parent, candidate));
        }
    }
    Ok(out)
}

/// One state entry of a room and the position below which its history is wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntryBelow<'a> {
    /// Room id.
    pub room_id: &'a str,
    /// Event type.
    pub kind: &'a str,
    /// State key.
    pub state_key: &'a str,
    /// Exclusive upper bound (position).
    pub before: i64,
}

/// The most entries one [`state_histories`] call takes (four bound values each).
pub const HISTORY_ENTRIES_MAX: usize = IN_LIST_MAX / 4;

/// The history of several state entries, of any rooms, at once (at most
/// [`HISTORY_ENTRIES_MAX`]), each below its own bound, oldest first: where each state event's
/// previous content is found.
pub async fn state_histories(
    pool: &AnyPool,
    entries: &[EntryBelow<'_>],
) -> Result<Vec<StoredEvent>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let terms = (0..entries.len())
        .map(|i| {
            let p = 1 + 4 * i;
            format!(
                "(room_id = ${} AND event_type = ${} AND state_key = ${} AND pos < ${})",
                p,
                p + 1,
                p + 2,
                p + 3
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = format!("SELECT {COLUMNS} FROM bridge_room_events WHERE {terms} ORDER BY pos");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for e in entries {
        q = q
            .bind(e.room_id)
            .bind(e.kind)
            .bind(e.state_key)
            .bind(e.before);
    }
    rows(q.fetch_all(pool).await?)
}

/// The membership events of `user` and the `m.room.history_visibility` events of each of
/// `rooms` (at most [`IN_LIST_MAX`]) below position `end`, oldest first: what deciding what
/// the user may see in those rooms needs, for many rooms in one query.
pub async fn visibility_histories(
    pool: &AnyPool,
    rooms: &[&str],
    user: &str,
    end: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    if rooms.is_empty() {
        return Ok(Vec::new());
    }
    // Three IN lists over the state index's columns; the two combinations no event has
    // (a membership with an empty key, a visibility keyed by the user) are dropped below.
    let sql = format!(
        "SELECT {COLUMNS} FROM bridge_room_events WHERE room_id IN ({}) \
         AND event_type IN ('m.room.member', 'm.room.history_visibility') \
         AND state_key IN (${}, '') AND pos < ${} ORDER BY pos",
        placeholders(1, rooms.len()),
        rooms.len() + 1,
        rooms.len() + 2
    );
    let q = with_rooms(sql, rooms);
    let found = rows(q.bind(user).bind(end).fetch_all(pool).await?)?;
    Ok(found
        .into_iter()
        .filter(|e| match e.kind.as_str() {
            "m.room.member" => e.state_key.as_deref() == Some(user),
            _ => e.state_key.as_deref() == Some(""),
        })
        .collect())
}

/// Several events by id (at most [`IN_LIST_MAX`]), in no particular order.
pub async fn events(pool: &AnyPool, ids: &[&str]) -> Result<Vec<StoredEvent>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM bridge_room_events WHERE event_id IN ({})",
        placeholders(1, ids.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(*id);
    }
    rows(q.fetch_all(pool).await?)
}

/// Events of `rooms` whose indexed text (`keys`: `content.body`, `content.name`,
/// `content.topic`) has every one of `words` (as word prefixes), with their rank (higher is
/// better): best first, or newest first when `recent`; at most `limit`. `words` must be
/// plain alphanumeric words, which both full-text query languages take as they are.
pub async fn search(
    pool: &AnyPool,
    words: &[String],
    keys: &[&str],
    rooms: &[String],
    recent: bool,
    limit: i64,
) -> Result<Vec<(StoredEvent, f64)>, StoreError> {
    if words.is_empty() || keys.is_empty() || rooms.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = pool.acquire().await?;
    let postgres = conn.backend_name() == "PostgreSQL";
    let placeholders = |from: usize, n: usize| {
        (from..from + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // PostgreSQL filters by key in SQL; SQLite's index has a column per key and filters in
    // the full-text query. Either way hits are joined to events by a unique column.
    let (query, hits, join, bound_keys) = if postgres {
        let query = words
            .iter()
            .map(|w| format!("{w}:*"))
            .collect::<Vec<_>>()
            .join(" & ");
        let key_list = placeholders(2, keys.len());
        let hits = format!(
            "SELECT event_id AS hit, ts_rank(vector, to_tsquery('simple', $1))::float8 AS rank \
             FROM hs_event_search WHERE vector @@ to_tsquery('simple', $1) \
             AND search_key IN ({key_list})"
        );
        (query, hits, "e.event_id = s.hit", keys)
    } else {
        let columns = keys
            .iter()
            .filter_map(|k| search_column(k))
            .collect::<Vec<_>>()
            .join(" ");
        if columns.is_empty() {
            return Ok(Vec::new());
        }
        let terms = words
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" ");
        // bm25 is lower for better matches.
        let hits = "SELECT rowid AS hit, -bm25(hs_event_search) AS rank FROM hs_event_search \
                    WHERE hs_event_search MATCH $1"
            .to_owned();
        (
            format!("{{{columns}}} : ({terms})"),
            hits,
            "e.pos = s.hit",
            &[][..],
        )
    };
    let room_list = placeholders(2 + bound_keys.len(), rooms.len());
    let limit_param = 2 + bound_keys.len() + rooms.len();
    let order = if recent {
        "e.pos DESC"
    } else {
        "s.rank DESC, e.pos DESC"
    };
    let sql = format!(
        "SELECT {COLUMNS}, s.rank FROM bridge_room_events e JOIN ({hits}) s ON {join} \
         WHERE e.room_id IN ({room_list}) ORDER BY {order} LIMIT ${limit_param}"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(query);
    for key in bound_keys {
        q = q.bind(*key);
    }
    for room in rooms {
        q = q.bind(room.as_str());
    }
    let rows = q.bind(limit).fetch_all(&mut *conn).await?;
    Ok(rows
        .iter()
        .map(|r| Ok((from_row(r)?, r.try_get::<f64, _>("rank")?)))
        .collect::<Result<_, sqlx::Error>>()?)
}

/// The column of SQLite's full-text index that holds the text of search key `key`.
fn search_column(key: &str) -> Option<&'static str> {
    match key {
        "content.body" => Some("body"),
        "content.name" => Some("name"),
        "content.topic" => Some("topic"),
        _ => None,
    }
}

/// One room of a user's, as sliding sync orders and filters them.
#[derive(Debug, Clone)]
pub struct RoomRecency {
    /// Room id.
    pub room_id: String,
    /// The user's current membership.
    pub membership: String,
    /// The position of the event that gave the user that membership.
    pub membership_pos: i64,
    /// The position of the room's latest event below the bound (its recency).
    pub bump: i64,
    /// Whether the room was encrypted below the bound (encryption cannot be turned off).
    pub encrypted: bool,
    /// The room's create event, as stored.
    pub create_json: Option<String>,
}

/// The rooms a user has a membership in, with that membership, the position of each
/// room's latest event below `end` (its recency, for sliding sync's ordering) and what
/// sliding sync's list filters look at, in one query.
pub async fn rooms_by_recency(
    pool: &AnyPool,
    user_id: &str,
    end: i64,
) -> Result<Vec<RoomRecency>, StoreError> {
    let rows = sqlx::query(
        "SELECT m.room_id, m.membership, m.pos, \
         (SELECT MAX(e.pos) FROM bridge_room_events e WHERE e.room_id = m.room_id AND e.pos < $2), \
         (SELECT COUNT(*) FROM bridge_room_events x WHERE x.room_id = m.room_id \
          AND x.event_type = 'm.room.encryption' AND x.state_key = '' AND x.pos < $2), \
         (SELECT c.json FROM bridge_room_events c WHERE c.room_id = m.room_id \
          AND c.event_type = 'm.room.create' AND c.state_key = '' ORDER BY c.pos LIMIT 1) \
         FROM bridge_memberships m WHERE m.user_id = $1 ORDER BY m.room_id",
    )
    .bind(user_id)
    .bind(end)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            Ok(RoomRecency {
                room_id: r.try_get(0)?,
                membership: r.try_get(1)?,
                membership_pos: r.try_get(2)?,
                bump: r.try_get::<Option<i64>, _>(3)?.unwrap_or(0),
                encrypted: r.try_get::<i64, _>(4)? > 0,
                create_json: r.try_get(5)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?)
}

/// The thread roots of a room, counting replies below position `end`, with the position of
/// each thread's latest reply (which is below `below`), latest first; only threads
/// `participant` started or replied to when given.
pub async fn thread_roots(
    pool: &AnyPool,
    room_id: &str,
    (end, below): (i64, i64),
    participant: Option<&str>,
) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT r.relates_to, MAX(r.pos) FROM bridge_room_events r \
         WHERE r.room_id = $1 AND r.relates_to IS NOT NULL AND r.rel_type = 'm.thread' \
         AND r.pos < $2 \
         AND ($3 = '' OR EXISTS (SELECT 1 FROM bridge_room_events t \
              WHERE t.event_id = r.relates_to AND t.sender = $3) \
              OR EXISTS (SELECT 1 FROM bridge_room_events o WHERE o.room_id = r.room_id \
              AND o.relates_to = r.relates_to AND o.rel_type = 'm.thread' AND o.sender = $3)) \
         GROUP BY r.relates_to HAVING MAX(r.pos) < $4 ORDER BY MAX(r.pos) DESC",
    )
    .bind(room_id)
    .bind(end)
    .bind(participant.unwrap_or(""))
    .bind(below)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?)
}

/// The room's state just before position `before`: the latest event of each (type, key)
/// with a smaller position.
pub async fn state_at(
    pool: &AnyPool,
    room_id: &str,
    before: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut all = state_at_of(pool, &[room_id], before).await?;
    Ok(all.remove(room_id).unwrap_or_default())
}

/// [`state_at`] of several rooms (at most [`IN_LIST_MAX`]) in one query, by room, each
/// sorted by (type, key); a room without state is absent.
pub async fn state_at_of(
    pool: &AnyPool,
    rooms: &[&str],
    before: i64,
) -> Result<std::collections::HashMap<String, Vec<StoredEvent>>, StoreError> {
    let mut out: std::collections::HashMap<String, Vec<StoredEvent>> =
        std::collections::HashMap::new();
    if rooms.is_empty() {
        return Ok(out);
    }
    let n = rooms.len();
    let sql = format!(
        "SELECT {COLUMNS} FROM bridge_room_events e WHERE e.room_id IN ({}) \
         AND e.state_key IS NOT NULL AND e.pos < ${b} \
         AND e.pos = (SELECT MAX(x.pos) FROM bridge_room_events x \
         WHERE x.room_id = e.room_id AND x.event_type = e.event_type \
         AND x.state_key = e.state_key AND x.pos < ${b}) \
         ORDER BY e.room_id, e.event_type, e.state_key",
        placeholders(1, n),
        b = n + 1
    );
    let q = with_rooms(sql, rooms);
    for e in rows(q.bind(before).fetch_all(pool).await?)? {
        out.entry(e.room_id.clone()).or_default().push(e);
    }
    Ok(out)
}

/// One state entry just before position `before`.
pub async fn state_entry_at(
    pool: &AnyPool,
    room_id: &str,
    kind: &str,
    state_key: &str,
    before: i64,
) -> Result<Option<StoredEvent>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM bridge_room_events WHERE room_id = $1 AND event_type = $2 \
         AND state_key = $3 AND pos < $4 ORDER BY pos DESC LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(room_id)
        .bind(kind)
        .bind(state_key)
        .bind(before)
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// State events of a room with `from <= pos < to`, oldest first.
pub async fn state_changes(
    pool: &AnyPool,
    room_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM bridge_room_events WHERE room_id = $1 AND state_key IS NOT NULL \
         AND pos >= $2 AND pos < $3 ORDER BY pos"
    );
    rows(
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(room_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?,
    )
}

/// Every room a user has a membership in, with that membership and its position (current,
/// not bounded: callers re-check with [`state_entry_at`] when they need a bound).
pub async fn rooms_of_user(
    pool: &AnyPool,
    user_id: &str,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT room_id, membership, pos FROM bridge_memberships WHERE user_id = $1 ORDER BY room_id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<_, sqlx::Error>>()?)
}

/// The current members of a room with the given membership.
pub async fn members(
    pool: &AnyPool,
    room_id: &str,
    membership: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query(
        "SELECT user_id FROM bridge_memberships WHERE room_id = $1 AND membership = $2 \
         ORDER BY user_id",
    )
    .bind(room_id)
    .bind(membership)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

/// The joined and the invited members of several rooms (at most [`IN_LIST_MAX`]), each
/// sorted, in one query; a room without such members is absent.
pub async fn joined_and_invited_of(
    pool: &AnyPool,
    rooms: &[&str],
) -> Result<std::collections::HashMap<String, (Vec<String>, Vec<String>)>, StoreError> {
    let mut out: std::collections::HashMap<String, (Vec<String>, Vec<String>)> =
        std::collections::HashMap::new();
    if rooms.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT room_id, user_id, membership FROM bridge_memberships WHERE room_id IN ({}) \
         AND membership IN ('join', 'invite') ORDER BY room_id, user_id",
        placeholders(1, rooms.len())
    );
    let q = with_rooms(sql, rooms);
    for r in q.fetch_all(pool).await? {
        let entry = out.entry(r.try_get(0)?).or_default();
        let user: String = r.try_get(1)?;
        if r.try_get::<String, _>(2)? == "join" {
            entry.0.push(user);
        } else {
            entry.1.push(user);
        }
    }
    Ok(out)
}

/// A public read receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptRow {
    /// Reader.
    pub user_id: String,
    /// Receipt type.
    pub receipt_type: String,
    /// Thread, empty when unthreaded.
    pub thread_id: String,
    /// Event read up to.
    pub event_id: String,
    /// When (Unix ms).
    pub ts: i64,
}

/// Receipts of a room that changed with `from <= pos < to`.
pub async fn receipts(
    pool: &AnyPool,
    room_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<ReceiptRow>, StoreError> {
    let mut all = receipts_of(pool, &[room_id], from, to).await?;
    Ok(all.remove(room_id).unwrap_or_default())
}

/// [`receipts`] of several rooms (at most [`IN_LIST_MAX`]) in one query, by room, each in
/// ledger order; a room without such receipts is absent.
pub async fn receipts_of(
    pool: &AnyPool,
    rooms: &[&str],
    from: i64,
    to: i64,
) -> Result<std::collections::HashMap<String, Vec<ReceiptRow>>, StoreError> {
    let mut out: std::collections::HashMap<String, Vec<ReceiptRow>> =
        std::collections::HashMap::new();
    if rooms.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT room_id, user_id, receipt_type, thread_id, event_id, ts FROM bridge_receipts \
         WHERE room_id IN ({}) AND pos >= ${} AND pos < ${} ORDER BY pos",
        placeholders(1, rooms.len()),
        rooms.len() + 1,
        rooms.len() + 2
    );
    let q = with_rooms(sql, rooms);
    for r in q.bind(from).bind(to).fetch_all(pool).await? {
        out.entry(r.try_get(0)?).or_default().push(ReceiptRow {
            user_id: r.try_get(1)?,
            receipt_type: r.try_get(2)?,
            thread_id: r.try_get(3)?,
            event_id: r.try_get(4)?,
            ts: r.try_get(5)?,
        });
    }
    Ok(out)
}

/// Aliases pointing to a room.
pub async fn aliases_of(pool: &AnyPool, room_id: &str) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT alias FROM bridge_aliases WHERE room_id = $1 ORDER BY alias")
        .bind(room_id)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

/// An alias's room and creator.
pub async fn alias(pool: &AnyPool, alias: &str) -> Result<Option<(String, String)>, StoreError> {
    let row = sqlx::query("SELECT room_id, creator FROM bridge_aliases WHERE alias = $1")
        .bind(alias)
        .fetch_optional(pool)
        .await?;
    Ok(row
        .map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?)))
        .transpose()?)
}

/// Rooms published in the directory, in publication order.
pub async fn public_rooms(pool: &AnyPool) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT room_id FROM bridge_public_rooms ORDER BY pos")
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

/// Whether a room is published.
pub async fn is_public(pool: &AnyPool, room_id: &str) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("SELECT 1 FROM bridge_public_rooms WHERE room_id = $1")
            .bind(room_id)
            .fetch_optional(pool)
            .await?
            .is_some(),
    )
}

/// The users (of any organisation) sharing a joined room with `user_id` or joined to a public
/// room, whose id or display name contains `term` (case-insensitive), for the user directory;
/// exact matches of the localpart or display name first.
pub async fn search_users(
    pool: &AnyPool,
    user_id: &str,
    term: &str,
    limit: i64,
) -> Result<Vec<(String, Option<String>, Option<String>)>, StoreError> {
    // The term is matched literally: LIKE's wildcards in it are escaped.
    let escaped = term
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pattern = format!("%{escaped}%");
    let rows = sqlx::query(
        "SELECT u.user_id, u.displayname, u.avatar_url FROM bridge_users u \
         WHERE u.deactivated = 0 \
         AND (LOWER(u.user_id) LIKE $2 ESCAPE '\\' \
              OR LOWER(COALESCE(u.displayname, '')) LIKE $2 ESCAPE '\\') \
         AND (u.user_id = $1 OR EXISTS (SELECT 1 FROM bridge_memberships m \
              WHERE m.user_id = u.user_id AND m.membership = 'join' AND ( \
                m.room_id IN (SELECT room_id FROM bridge_memberships \
                              WHERE user_id = $1 AND membership = 'join') \
                OR m.room_id IN (SELECT room_id FROM bridge_public_rooms)))) \
         ORDER BY CASE WHEN LOWER(COALESCE(u.displayname, '')) = $4 \
                       OR LOWER(u.user_id) LIKE $5 ESCAPE '\\' THEN 0 ELSE 1 END, \
                  u.user_id LIMIT $3",
    )
    .bind(user_id)
    .bind(pattern)
    .bind(limit)
    .bind(term.to_lowercase())
    .bind(format!("@{escaped}:%"))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<_, sqlx::Error>>()?)
}

/// Rooms with an event or a public receipt at `from <= pos < to`: the rooms an incremental
/// `/sync` has to look at.
pub async fn rooms_changed(
    pool: &AnyPool,
    from: i64,
    to: i64,
) -> Result<std::collections::BTreeSet<String>, StoreError> {
    let rows = sqlx::query(
        "SELECT DISTINCT room_id FROM bridge_room_events WHERE pos >= $1 AND pos < $2 \
         UNION SELECT DISTINCT room_id FROM bridge_receipts WHERE pos >= $1 AND pos < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

/// The rooms both `a` and `b` are joined to, by room id.
pub async fn mutual_rooms(pool: &AnyPool, a: &str, b: &str) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query(
        "SELECT mine.room_id FROM bridge_memberships mine \
         JOIN bridge_memberships theirs ON theirs.room_id = mine.room_id \
         WHERE mine.user_id = $1 AND theirs.user_id = $2 \
         AND mine.membership = 'join' AND theirs.membership = 'join' ORDER BY mine.room_id",
    )
    .bind(a)
    .bind(b)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?)
}

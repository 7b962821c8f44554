//! (e) Sliding sync (MSC4186), the sync of Element X: a user in many rooms asks for the
//! first 20 rooms of a list ordered by recency (the time from the request to an answer with
//! those 20 rooms, on a new connection each time), then keeps the connection long-polling
//! while a message is sent to the least recent room, which moves it into the window (the
//! time from just before the `PUT` to the answer that carries it).

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Params, Users};
use crate::servers::Target;
use crate::stats::{Errors, Latency};

/// The list window the client asks for.
const WINDOW: usize = 20;
/// First requests measured (each on a new connection).
const FIRST_REQUESTS: usize = 5;
/// How long one update may take before it counts as lost.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(30);

/// Figures of (e).
#[derive(Debug, Clone, Serialize)]
pub struct SlidingSync {
    /// Rooms the user is in.
    pub rooms: usize,
    /// From a first request to an answer with the window's rooms.
    pub first: Option<Latency>,
    /// From sending a message to the incremental answer that carries it.
    pub update: Option<Latency>,
    /// Failed requests, by kind.
    pub errors: Errors,
}

fn request(conn: &str) -> Value {
    json!({
        "conn_id": conn,
        "lists": {"all": {
            "ranges": [[0, WINDOW - 1]],
            "timeline_limit": 1,
            "required_state": [["m.room.name", ""], ["m.room.member", "$ME"]],
        }},
    })
}

fn has_body(answer: &Value, room: &str, body: &str) -> bool {
    answer["rooms"][room]["timeline"]
        .as_array()
        .is_some_and(|t| t.iter().any(|e| e["content"]["body"] == body))
}

/// Runs (e) on `target`.
pub async fn run(target: &Target, params: &Params, users: &Users) -> anyhow::Result<SlidingSync> {
    let user = std::sync::Arc::new(users.register(&target.url, "slider").await?);
    let mut rooms = Vec::with_capacity(params.sliding_rooms);
    for i in 0..params.sliding_rooms {
        let room = user
            .create_room(&format!("cs-api-bench sliding {i}"))
            .await
            .map_err(|e| anyhow::anyhow!("/createRoom: {e}"))?;
        rooms.push(room);
    }
    let mut errors = Errors::default();
    let mut first = Vec::new();
    let mut pos = None;
    for n in 0..FIRST_REQUESTS {
        let started = Instant::now();
        match user
            .sliding_sync(None, 0, &request(&format!("first{n}")))
            .await
        {
            Ok((answer, at)) => {
                let got = answer["rooms"].as_object().map_or(0, |r| r.len());
                anyhow::ensure!(
                    got == WINDOW.min(params.sliding_rooms),
                    "the first answer has {got} rooms, not {WINDOW}"
                );
                first.push(Instant::from_std(at).saturating_duration_since(started));
                pos = answer["pos"]
                    .as_str()
                    .map(|p| (format!("first{n}"), p.to_owned()));
            }
            Err(e) => errors.record("first", &e),
        }
    }
    let (conn, mut pos) = pos.context("no first request succeeded")?;

    let mut updates = Vec::new();
    for i in 0..params.sliding_updates {
        // The least recent room: the message moves it into the window.
        let room = rooms.remove(0);
        let body = format!("sliding {i} {:016x}", rand::random::<u64>());
        let poll_user = user.clone();
        let (poll_pos, poll_conn) = (pos.clone(), conn.clone());
        let poll = tokio::spawn(async move {
            poll_user
                .sliding_sync(Some(&poll_pos), 30_000, &request(&poll_conn))
                .await
        });
        // Let the long-poll reach the server before the message does.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        if let Err(e) = user.send_text(&room, &body).await {
            errors.record("send", &e);
            poll.abort();
            rooms.push(room);
            continue;
        }
        let deadline = started + UPDATE_TIMEOUT;
        let mut answer = poll.await.context("poll task")?;
        let seen = loop {
            match answer {
                Ok((value, at)) => {
                    if let Some(p) = value["pos"].as_str() {
                        pos = p.to_owned();
                    }
                    if has_body(&value, &room, &body) {
                        break Some(Instant::from_std(at));
                    }
                }
                Err(e) => errors.record("update", &e),
            }
            if Instant::now() >= deadline {
                break None;
            }
            answer = user.sliding_sync(Some(&pos), 30_000, &request(&conn)).await;
        };
        if let Some(at) = seen {
            updates.push(at.saturating_duration_since(started));
        }
        rooms.push(room);
    }
    Ok(SlidingSync {
        rooms: params.sliding_rooms,
        first: Latency::of(&first),
        update: Latency::of(&updates),
        errors,
    })
}

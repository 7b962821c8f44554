//! (a) Sequential send latency: one user, one room, N messages one after another; the latency of
//! each `PUT /rooms/{id}/send/m.room.message/{txn}` request.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Params, Users};
use crate::servers::Target;
use crate::stats::{Errors, Latency};

/// Figures of (a).
#[derive(Debug, Clone, Serialize)]
pub struct SendLatency {
    /// Messages attempted.
    pub messages: usize,
    /// Answered 200 with an event id.
    pub ok: usize,
    /// Latency of the successful requests.
    pub latency: Option<Latency>,
    /// Failed requests by kind.
    pub errors: Errors,
}

/// Runs (a) on `target`.
pub async fn run(target: &Target, params: &Params, users: &Users) -> anyhow::Result<SendLatency> {
    let user = users.register(&target.url, "lat").await?;
    let room = user
        .create_room("cs-api-bench send latency")
        .await
        .map_err(|e| anyhow::anyhow!("/createRoom: {e}"))?;
    let mut samples: Vec<Duration> = Vec::with_capacity(params.messages);
    let mut errors = Errors::default();
    for i in 0..params.messages {
        let started = Instant::now();
        match user.send_text(&room, &format!("latency {i}")).await {
            Ok(_) => samples.push(started.elapsed()),
            Err(e) => errors.record("send", &e),
        }
    }
    Ok(SendLatency {
        messages: params.messages,
        ok: samples.len(),
        latency: Latency::of(&samples),
        errors,
    })
}

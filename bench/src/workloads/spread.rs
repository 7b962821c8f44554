//! (f) Saturation: many senders, each in a room of its own, each sending one message after
//! another; after a warm-up, the 200 answers within the measured window per second, and the
//! latency of those requests. Rooms of their own take away the per-room ordering that (b)
//! measures and leave what the whole server can do.

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::time::Instant;

use super::{Params, Users};
use crate::servers::Target;
use crate::stats::{Errors, Latency};

/// Figures of (f).
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    /// Senders, each in its own room.
    pub senders: usize,
    /// Length of the measured window.
    pub seconds: f64,
    /// 200 answers that arrived within the window.
    pub ok: u64,
    /// `ok` per second of the window.
    pub msgs_per_s: f64,
    /// Latency of the requests answered 200 within the window.
    pub latency: Option<Latency>,
    /// Failed requests within the window, by kind.
    pub errors: Errors,
}

/// Runs (f) on `target`.
pub async fn run(target: &Target, params: &Params, users: &Users) -> anyhow::Result<Spread> {
    anyhow::ensure!(params.spread_senders > 0, "no senders");
    let mut senders = Vec::with_capacity(params.spread_senders);
    for i in 0..params.spread_senders {
        let session = users.register(&target.url, &format!("sp{i}")).await?;
        let room = session
            .create_room(&format!("cs-api-bench spread {i}"))
            .await
            .map_err(|e| anyhow::anyhow!("/createRoom: {e}"))?;
        senders.push((session, room));
    }

    let start = Instant::now() + Duration::from_millis(100);
    let window_start = start + Duration::from_secs_f64(params.warmup_seconds);
    let window_end = window_start + Duration::from_secs_f64(params.seconds);
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|(session, room)| {
            tokio::spawn(async move {
                tokio::time::sleep_until(start).await;
                let mut samples = Vec::new();
                let mut errors = Errors::default();
                let mut n = 0u64;
                while Instant::now() < window_end {
                    let sent = Instant::now();
                    let result = session.send_text(&room, &format!("spread #{n}")).await;
                    n += 1;
                    let done = Instant::now();
                    if sent < window_start || done > window_end {
                        continue;
                    }
                    match result {
                        Ok(_) => samples.push(done - sent),
                        Err(e) => errors.record("send", &e),
                    }
                }
                (samples, errors)
            })
        })
        .collect();

    let mut samples = Vec::new();
    let mut errors = Errors::default();
    for task in tasks {
        let (s, e) = task.await.context("a sender panicked")?;
        samples.extend(s);
        errors.merge(e);
    }
    let ok = samples.len() as u64;
    Ok(Spread {
        senders: params.spread_senders,
        seconds: params.seconds,
        ok,
        msgs_per_s: ok as f64 / params.seconds,
        latency: Latency::of(&samples),
        errors,
    })
}

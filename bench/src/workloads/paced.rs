//! (g) Latency under a steady load: messages offered at a fixed rate (an open loop: each is
//! sent at its scheduled moment, whether or not the earlier ones were answered), spread over
//! a few senders in one room; the latency of each from its scheduled moment, so that a stall
//! shows in every message it delays.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::time::Instant;

use super::{Params, Users, join_when_known};
use crate::servers::Target;
use crate::stats::{Errors, Latency};

/// Senders the offered messages are spread over, round robin.
const SENDERS: usize = 10;

/// Figures of (g).
#[derive(Debug, Clone, Serialize)]
pub struct Paced {
    /// Messages offered per second.
    pub rate: f64,
    /// Messages offered in all.
    pub offered: usize,
    /// Latency of the messages answered 200.
    pub latency: Option<Latency>,
    /// Failed requests, by kind.
    pub errors: Errors,
}

/// Runs (g) on `target`.
pub async fn run(target: &Target, params: &Params, users: &Users) -> anyhow::Result<Paced> {
    anyhow::ensure!(params.paced_rate > 0.0, "--paced-rate must be positive");
    let mut sessions = Vec::with_capacity(SENDERS);
    for i in 0..SENDERS {
        sessions.push(Arc::new(
            users.register(&target.url, &format!("pc{i}")).await?,
        ));
    }
    let room = sessions[0]
        .create_room("cs-api-bench paced")
        .await
        .map_err(|e| anyhow::anyhow!("/createRoom: {e}"))?;
    for session in &sessions[1..] {
        join_when_known(session, &room, Duration::from_secs(10)).await?;
    }

    let offered = (params.paced_rate * params.paced_seconds).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / params.paced_rate);
    let start = Instant::now() + Duration::from_millis(100);
    let tasks: Vec<_> = (0..offered)
        .map(|n| {
            let session = sessions[n % SENDERS].clone();
            let room = room.clone();
            let at = start + interval.mul_f64(n as f64);
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                let result = session.send_text(&room, &format!("paced #{n}")).await;
                (at.elapsed(), result)
            })
        })
        .collect();
    let mut samples = Vec::with_capacity(offered);
    let mut errors = Errors::default();
    for task in tasks {
        let (took, result) = task.await.context("a send panicked")?;
        match result {
            Ok(_) => samples.push(took),
            Err(e) => errors.record("send", &e),
        }
    }
    Ok(Paced {
        rate: params.paced_rate,
        offered,
        latency: Latency::of(&samples),
        errors,
    })
}

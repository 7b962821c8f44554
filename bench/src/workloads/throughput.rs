//! (b) Throughput: concurrent senders (distinct users, all joined to one room), each sending one
//! message after another; after a warm-up, the 200 answers that arrive within the measured
//! window, per second.

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::time::Instant;

use super::{Params, Users, join_when_known};
use crate::servers::Target;
use crate::stats::Errors;

/// Figures of (b).
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Concurrent senders.
    pub senders: usize,
    /// Length of the measured window.
    pub seconds: f64,
    /// 200 answers that arrived within the window.
    pub ok: u64,
    /// `ok` per second of the window.
    pub msgs_per_s: f64,
    /// Failed requests within the window, by kind.
    pub errors: Errors,
}

/// Runs (b) on `target`.
pub async fn run(target: &Target, params: &Params, users: &Users) -> anyhow::Result<Throughput> {
    anyhow::ensure!(params.senders > 0, "no senders");
    let mut sessions = Vec::with_capacity(params.senders);
    for i in 0..params.senders {
        sessions.push(users.register(&target.url, &format!("tp{i}")).await?);
    }
    let room = sessions[0]
        .create_room("cs-api-bench throughput")
        .await
        .map_err(|e| anyhow::anyhow!("/createRoom: {e}"))?;
    for session in &sessions[1..] {
        join_when_known(session, &room, Duration::from_secs(10)).await?;
    }

    let start = Instant::now() + Duration::from_millis(100);
    let window_start = start + Duration::from_secs_f64(params.warmup_seconds);
    let window_end = window_start + Duration::from_secs_f64(params.seconds);
    let tasks: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, session)| {
            let room = room.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(start).await;
                let mut ok = 0u64;
                let mut errors = Errors::default();
                let mut n = 0u64;
                while Instant::now() < window_end {
                    let result = session.send_text(&room, &format!("sender {i} #{n}")).await;
                    n += 1;
                    let done = Instant::now();
                    if done < window_start || done > window_end {
                        continue;
                    }
                    match result {
                        Ok(_) => ok += 1,
                        Err(e) => errors.record("send", &e),
                    }
                }
                (ok, errors)
            })
        })
        .collect();

    let mut ok = 0;
    let mut errors = Errors::default();
    for task in tasks {
        let (n, e) = task.await.context("a sender panicked")?;
        ok += n;
        errors.merge(e);
    }
    Ok(Throughput {
        senders: params.senders,
        seconds: params.seconds,
        ok,
        msgs_per_s: ok as f64 / params.seconds,
        errors,
    })
}

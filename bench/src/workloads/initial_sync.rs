//! (h) Initial `/sync` of a user in many rooms, each with a message: the time from a `/sync`
//! without `since` to its whole answer, which must hold every room. Each request's filter
//! differs in a part that changes nothing here (presence, which is off), so that no server
//! answers a repeat from a cache of whole answers: a client's initial sync is a first one.

use std::time::Duration;

use serde::Serialize;
use std::time::Instant;

use super::{Params, Users};
use crate::servers::Target;
use crate::stats::{Errors, Latency};

/// Initial syncs measured.
const REQUESTS: usize = 5;

/// Figures of (h).
#[derive(Debug, Clone, Serialize)]
pub struct InitialSync {
    /// Rooms the user is in.
    pub rooms: usize,
    /// From the request to the whole answer.
    pub latency: Option<Latency>,
    /// Failed requests, by kind.
    pub errors: Errors,
}

/// Runs (h) on `target`.
pub async fn run(target: &Target, params: &Params, users: &Users) -> anyhow::Result<InitialSync> {
    let user = users.register(&target.url, "initial").await?;
    for i in 0..params.sync_rooms {
        let room = user
            .create_room(&format!("cs-api-bench initial sync {i}"))
            .await
            .map_err(|e| anyhow::anyhow!("/createRoom: {e}"))?;
        user.send_text(&room, &format!("the message of room {i}"))
            .await
            .map_err(|e| anyhow::anyhow!("/send: {e}"))?;
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(REQUESTS);
    let mut errors = Errors::default();
    for n in 0..REQUESTS {
        let filter = format!(r#"{{"presence":{{"not_types":["cs-api-bench.{n}"]}}}}"#);
        let started = Instant::now();
        match user.initial_sync(&filter).await {
            Ok((answer, at)) => {
                let got = answer["rooms"]["join"].as_object().map_or(0, |r| r.len());
                anyhow::ensure!(
                    got == params.sync_rooms,
                    "the initial /sync has {got} joined rooms, not {}",
                    params.sync_rooms
                );
                samples.push(at - started);
            }
            Err(e) => errors.record("sync", &e),
        }
    }
    Ok(InitialSync {
        rooms: params.sync_rooms,
        latency: Latency::of(&samples),
        errors,
    })
}

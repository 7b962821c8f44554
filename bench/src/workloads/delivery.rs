//! (c) Delivery latency: a sender and a receiver in one room; the receiver long-polls `/sync`
//! without pause while the sender sends messages one at a time, each with a unique body; the
//! latency runs from just before the `PUT` to the arrival of the `/sync` answer that carries
//! the body. On Consort the receiver is on another organisation's node than the sender.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Params, Users, join_when_known};
use crate::servers::Target;
use crate::stats::{Errors, Latency};

/// How long one message may take to reach the receiver before it counts as lost.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// The workload gives up after this many lost messages in a row.
const MAX_LOST_IN_A_ROW: usize = 5;
/// Long-poll timeout of the receiver's `/sync`, in milliseconds.
const SYNC_TIMEOUT_MS: u64 = 30_000;

/// Figures of (c).
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// Whether sender and receiver used different nodes (Consort: org1 to org2).
    pub cross_node: bool,
    /// Messages attempted.
    pub messages: usize,
    /// Messages whose body reached the receiver in time.
    pub delivered: usize,
    /// Messages sent (200) that never reached the receiver within the timeout.
    pub lost: usize,
    /// Send-to-sync latency of the delivered messages.
    pub latency: Option<Latency>,
    /// Failed sends and syncs, by kind.
    pub errors: Errors,
}

/// Runs (c) on `target`.
pub async fn run(target: &Target, params: &Params, users: &Users) -> anyhow::Result<Delivery> {
    let sender = users.register(&target.url, "tx").await?;
    let receiver = users.register(&target.receiver_url, "rx").await?;
    let room = sender
        .create_room("cs-api-bench delivery")
        .await
        .map_err(|e| anyhow::anyhow!("/createRoom: {e}"))?;
    // Through the receiver's own node.
    join_when_known(&receiver, &room, Duration::from_secs(30)).await?;
    let (first, _) = receiver
        .sync(None, 0)
        .await
        .map_err(|e| anyhow::anyhow!("initial /sync: {e}"))?;
    let mut since = next_batch(&first)?;

    let prefix = format!("delivery {:016x}", rand::random::<u64>());
    let (arrivals, mut arrived) = mpsc::unbounded_channel::<(String, Instant)>();
    let watched_room = room.clone();
    let watched_prefix = prefix.clone();
    let sync_errors = Arc::new(Mutex::new(Errors::default()));
    let poller_errors = sync_errors.clone();
    let poller = tokio::spawn(async move {
        loop {
            match receiver.sync(Some(&since), SYNC_TIMEOUT_MS).await {
                Ok((answer, at)) => {
                    let at = Instant::from_std(at);
                    for body in bodies(&answer, &watched_room, &watched_prefix) {
                        if arrivals.send((body, at)).is_err() {
                            return;
                        }
                    }
                    if let Ok(next) = next_batch(&answer) {
                        since = next;
                    }
                }
                Err(e) => {
                    lock(&poller_errors).record("sync", &e);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });

    let mut samples = Vec::with_capacity(params.delivery_messages);
    let mut errors = Errors::default();
    let mut lost = 0;
    let mut lost_in_a_row = 0;
    for i in 0..params.delivery_messages {
        let body = format!("{prefix} {i}");
        let started = Instant::now();
        if let Err(e) = sender.send_text(&room, &body).await {
            errors.record("send", &e);
            continue;
        }
        let deadline = started + DELIVERY_TIMEOUT;
        let seen = loop {
            match tokio::time::timeout_at(deadline, arrived.recv()).await {
                Ok(Some((b, at))) if b == body => break Some(at),
                // An earlier message that arrived after its timeout.
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break None,
            }
        };
        match seen {
            Some(at) => {
                samples.push(at.saturating_duration_since(started));
                lost_in_a_row = 0;
            }
            None => {
                lost += 1;
                lost_in_a_row += 1;
                eprintln!("  message {i} did not reach the receiver within {DELIVERY_TIMEOUT:?}");
                if lost_in_a_row == MAX_LOST_IN_A_ROW {
                    poller.abort();
                    anyhow::bail!(
                        "{MAX_LOST_IN_A_ROW} messages in a row never reached the receiver"
                    );
                }
            }
        }
    }
    // The poller may be inside a long poll: stop it rather than wait for it.
    poller.abort();
    errors.merge(std::mem::take(&mut *lock(&sync_errors)));
    Ok(Delivery {
        cross_node: target.cross_node(),
        messages: params.delivery_messages,
        delivered: samples.len(),
        lost,
        latency: Latency::of(&samples),
        errors,
    })
}

fn lock(errors: &Mutex<Errors>) -> std::sync::MutexGuard<'_, Errors> {
    errors
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn next_batch(answer: &Value) -> anyhow::Result<String> {
    answer["next_batch"]
        .as_str()
        .map(str::to_owned)
        .context("/sync answered without next_batch")
}

/// The bodies starting with `prefix` among `room`'s new timeline events in a `/sync` answer.
fn bodies(answer: &Value, room: &str, prefix: &str) -> Vec<String> {
    answer["rooms"]["join"][room]["timeline"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str())
        .filter(|b| b.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_taken_from_the_room_timeline_only() {
        let answer = json!({
            "next_batch": "s2",
            "rooms": {"join": {
                "!r:x": {"timeline": {"events": [
                    {"type": "m.room.message", "content": {"body": "delivery 1 0"}},
                    {"type": "m.room.member", "content": {"membership": "join"}},
                    {"type": "m.room.message", "content": {"body": "other"}},
                ]}},
                "!other:x": {"timeline": {"events": [
                    {"type": "m.room.message", "content": {"body": "delivery 1 1"}},
                ]}},
            }},
        });
        assert_eq!(bodies(&answer, "!r:x", "delivery 1"), ["delivery 1 0"]);
        assert!(bodies(&json!({}), "!r:x", "delivery 1").is_empty());
        assert_eq!(next_batch(&answer).unwrap(), "s2");
    }
}

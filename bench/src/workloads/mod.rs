//! The workloads, run one after another against one target with fresh users and rooms.

pub mod delivery;
pub mod initial_sync;
pub mod media;
pub mod paced;
pub mod send_latency;
pub mod sliding_sync;
pub mod spread;
pub mod storage;
pub mod throughput;

use std::time::Duration;

use serde::Serialize;

use crate::client::{self, Session};
use crate::footprint::{Resident, resident};
use crate::servers::Target;

/// What the workloads do (the same for every target).
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    /// (a) messages sent one after another.
    pub messages: usize,
    /// (b) concurrent senders, one user each.
    pub senders: usize,
    /// (b) measured duration in seconds.
    pub seconds: f64,
    /// (b) warm-up before the measured window, in seconds.
    pub warmup_seconds: f64,
    /// (c) messages sent one at a time, each awaited at the receiver.
    pub delivery_messages: usize,
    /// (d) files uploaded, then each downloaded from the receiver's node.
    pub media_files: usize,
    /// (d) size of each file, in MiB.
    pub media_mib: usize,
    /// (e) rooms of the sliding sync user.
    pub sliding_rooms: usize,
    /// (e) incremental updates measured.
    pub sliding_updates: usize,
    /// (f) senders, each in a room of its own.
    pub spread_senders: usize,
    /// (g) messages offered per second.
    pub paced_rate: f64,
    /// (g) how long they are offered, in seconds.
    pub paced_seconds: f64,
    /// (h) rooms of the initial `/sync` user.
    pub sync_rooms: usize,
    /// (i) messages with a 1 KiB body whose storage is measured.
    pub storage_messages: usize,
}

/// A workload's figures, or why it could not run.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Outcome<T> {
    /// It ran (possibly with errors, which it counts).
    Done(T),
    /// It could not run.
    Failed {
        /// What went wrong.
        error: String,
    },
}

impl<T> Outcome<T> {
    /// The figures if the workload ran.
    pub fn done(&self) -> Option<&T> {
        match self {
            Outcome::Done(t) => Some(t),
            Outcome::Failed { .. } => None,
        }
    }

    fn failed(error: &str) -> Self {
        Outcome::Failed {
            error: error.to_owned(),
        }
    }

    fn from_result(result: anyhow::Result<T>) -> Self {
        match result {
            Ok(t) => Outcome::Done(t),
            Err(e) => {
                eprintln!("  failed: {e:#}");
                Outcome::Failed {
                    error: format!("{e:#}"),
                }
            }
        }
    }
}

/// Every workload's outcome on one target.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// The URL the senders used.
    pub url: String,
    /// The URL of the delivery workload's receiver.
    pub receiver_url: String,
    /// (a) sequential send latency.
    pub send_latency: Outcome<send_latency::SendLatency>,
    /// (b) throughput of concurrent senders.
    pub throughput: Outcome<throughput::Throughput>,
    /// (c) send-to-sync delivery latency.
    pub delivery: Outcome<delivery::Delivery>,
    /// (d) media upload throughput and download time to first byte.
    pub media: Outcome<media::Media>,
    /// (e) sliding sync: the first window of a user in many rooms, and an update.
    pub sliding: Outcome<sliding_sync::SlidingSync>,
    /// (f) saturation: many senders, a room each.
    pub spread: Outcome<spread::Spread>,
    /// (g) latency at a fixed offered rate.
    pub paced: Outcome<paced::Paced>,
    /// (h) initial `/sync` of a user in many rooms.
    pub initial_sync: Outcome<initial_sync::InitialSync>,
    /// (i) storage per message, per node.
    pub storage: Outcome<storage::Storage>,
    /// Resident memory of each node after every workload.
    pub memory: Vec<Resident>,
}

impl Results {
    /// Results of a target that never came up: every workload failed with `error`.
    pub fn failed(error: &str) -> Self {
        Self {
            url: String::new(),
            receiver_url: String::new(),
            send_latency: Outcome::failed(error),
            throughput: Outcome::failed(error),
            delivery: Outcome::failed(error),
            media: Outcome::failed(error),
            sliding: Outcome::failed(error),
            spread: Outcome::failed(error),
            paced: Outcome::failed(error),
            initial_sync: Outcome::failed(error),
            storage: Outcome::failed(error),
            memory: Vec::new(),
        }
    }

    /// Whether any workload failed to run.
    pub fn any_failed(&self) -> bool {
        self.send_latency.done().is_none()
            || self.throughput.done().is_none()
            || self.delivery.done().is_none()
            || self.media.done().is_none()
            || self.sliding.done().is_none()
            || self.spread.done().is_none()
            || self.paced.done().is_none()
            || self.initial_sync.done().is_none()
            || self.storage.done().is_none()
    }
}

/// Runs every workload on `target`, one after another, then reads each node's resident
/// memory; user names start with `run`, unique to this run.
pub async fn run_all(target: &Target, params: &Params, run: &str) -> Results {
    let users = Users {
        run: run.to_owned(),
    };
    eprintln!(
        "{}: (a) send latency, {} messages",
        target.kind, params.messages
    );
    let send = send_latency::run(target, params, &users).await;
    eprintln!(
        "{}: (b) throughput, {} senders, {} s after {} s warm-up",
        target.kind, params.senders, params.seconds, params.warmup_seconds
    );
    let throughput = throughput::run(target, params, &users).await;
    eprintln!(
        "{}: (c) delivery latency, {} messages",
        target.kind, params.delivery_messages
    );
    let delivery = delivery::run(target, params, &users).await;
    eprintln!(
        "{}: (d) media, {} files of {} MiB",
        target.kind, params.media_files, params.media_mib
    );
    let media = media::run(target, params, &users).await;
    eprintln!(
        "{}: (e) sliding sync, {} rooms, {} updates",
        target.kind, params.sliding_rooms, params.sliding_updates
    );
    let sliding = sliding_sync::run(target, params, &users).await;
    eprintln!(
        "{}: (f) saturation, {} senders in a room each, {} s after {} s warm-up",
        target.kind, params.spread_senders, params.seconds, params.warmup_seconds
    );
    let spread = spread::run(target, params, &users).await;
    eprintln!(
        "{}: (g) {} msgs/s offered for {} s",
        target.kind, params.paced_rate, params.paced_seconds
    );
    let paced = paced::run(target, params, &users).await;
    eprintln!(
        "{}: (h) initial /sync, {} rooms",
        target.kind, params.sync_rooms
    );
    let initial_sync = initial_sync::run(target, params, &users).await;
    eprintln!(
        "{}: (i) storage, {} messages of 1 KiB",
        target.kind, params.storage_messages
    );
    let storage = storage::run(target, params, &users).await;
    Results {
        url: target.url.to_string(),
        receiver_url: target.receiver_url.to_string(),
        send_latency: Outcome::from_result(send),
        throughput: Outcome::from_result(throughput),
        delivery: Outcome::from_result(delivery),
        media: Outcome::from_result(media),
        sliding: Outcome::from_result(sliding),
        spread: Outcome::from_result(spread),
        paced: Outcome::from_result(paced),
        initial_sync: Outcome::from_result(initial_sync),
        storage: Outcome::from_result(storage),
        memory: resident(&target.nodes),
    }
}

/// Registers the run's users: `<run>_<role>` with a random password.
pub struct Users {
    run: String,
}

impl Users {
    /// Registers user `role` on `base`.
    pub async fn register(&self, base: &reqwest::Url, role: &str) -> anyhow::Result<Session> {
        let name = format!("{}_{role}", self.run);
        let password = format!("{:032x}", rand::random::<u128>());
        client::register(base, &name, &password)
            .await
            .map_err(|e| anyhow::anyhow!("registering {name} at {base}: {e}"))
    }
}

/// Retries `join` for up to `patience`: on a consortium the room reaches another node's
/// projection only once that node has applied the block that created it.
pub async fn join_when_known(
    session: &Session,
    room_id: &str,
    patience: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match session.join(room_id).await {
            Ok(()) => return Ok(()),
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => anyhow::bail!("{} joining {room_id}: {e}", session.user_id),
        }
    }
}

//! The node handle the rest of Consort uses: submit a payload and learn where it was
//! committed, follow committed blocks in order, get inclusion proofs, read status.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures::Stream;
use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::block::{Block, Tip};
use crate::executor::{AcceptAll, BlockExecutor};
use crate::genesis::Genesis;
use crate::mempool::Mempool;
use crate::merkle;
use crate::proof::TxProof;
use crate::store::{BlockStore, StoreError, StoredBlock, connect_and_migrate};
use crate::tx::{Tx, TxError, TxHash};

/// Where a transaction was committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// The transaction's hash.
    pub tx_hash: TxHash,
}

/// Why a submission did not commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The transaction was refused before entering the mempool.
    #[error(transparent)]
    Refused(#[from] TxError),
    /// The node stopped before the transaction committed; it may still commit later.
    #[error("the node stopped before the transaction was committed")]
    Stopped,
    /// The node's consensus loop is not running (halted on a divergence, or failed): it
    /// takes no writes until an operator acts.
    #[error("the ledger node takes no writes: {0}")]
    NotRunning(String),
}

/// Whether this node's consensus loop runs, and why it stopped. A supervisor (the
/// homeserver's `serve`) exits on `Failed`; `Halted` keeps reads served and refuses writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum LoopState {
    /// Deciding and applying blocks.
    Running,
    /// Stopped applying because this node's application state differs from the
    /// consortium's (its app hash is not the decided block's).
    Halted(String),
    /// Ended by an error that retries did not clear.
    Failed(String),
}

/// Consensus timing. Defaults are tuned so a dead proposer costs well under a second.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// Wait for a proposal before prevoting nil.
    pub propose_timeout: Duration,
    /// Wait for a prevote quorum.
    pub prevote_timeout: Duration,
    /// Wait for a precommit quorum.
    pub precommit_timeout: Duration,
    /// Added per round to each timeout.
    pub timeout_delta: Duration,
    /// How long an idle proposer waits for transactions before proposing an empty block.
    pub empty_block_wait: Duration,
    /// Once a proposer has a transaction, how long it waits for more before proposing, so
    /// that concurrent submissions share a block instead of each waiting for its own height.
    pub batch_wait: Duration,
    /// Mempool capacity in transactions.
    pub mempool_capacity: usize,
    /// With nothing to propose, how long the node waits after a block before starting the
    /// next height anyway (a heartbeat that keeps liveness visible): an idle consortium adds
    /// one empty block per interval instead of several a second.
    pub empty_block_interval: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            propose_timeout: Duration::from_millis(400),
            prevote_timeout: Duration::from_millis(150),
            precommit_timeout: Duration::from_millis(150),
            timeout_delta: Duration::from_millis(150),
            empty_block_wait: Duration::from_millis(250),
            batch_wait: Duration::from_millis(3),
            mempool_capacity: 200_000,
            empty_block_interval: Duration::from_secs(60),
        }
    }
}

/// Local bind addresses that differ from the ones the genesis publishes: behind a NAT or a
/// Kubernetes Service, others dial a public name while the node binds `0.0.0.0`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenAddrs {
    /// libp2p multiaddr to bind for consensus instead of the genesis `p2p_addr`.
    pub p2p: Option<String>,
    /// `host:port` to bind for transaction gossip instead of the genesis `gossip_addr`.
    pub gossip: Option<String>,
}

/// Buckets of the commit latency histogram, in seconds.
const COMMIT_SECONDS_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Everything needed to run one organisation's node.
#[derive(Clone)]
pub struct NodeConfig {
    /// Directory for the consensus WAL.
    pub home: PathBuf,
    /// The consortium.
    pub genesis: Genesis,
    /// This organisation's id in the genesis.
    pub org_id: String,
    /// Signs this organisation's transactions.
    pub node_key: SigningKey,
    /// Signs this organisation's consensus votes.
    pub validator_key: SigningKey,
    /// `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// Consensus timing.
    pub tuning: Tuning,
    /// Where to bind, when not at the genesis addresses (which are where the others dial).
    pub listen: ListenAddrs,
    /// Executes committed blocks (default: accept every transaction).
    pub executor: Option<Arc<dyn BlockExecutor>>,
    /// An already migrated pool over `database_url`, to share one pool with the rest of
    /// the node; when `None` the node opens its own.
    pub pool: Option<sqlx::AnyPool>,
}

/// Failures starting a node.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The org is not in the genesis.
    #[error("organisation `{0}` is not in the genesis")]
    UnknownOrg(String),
    /// Keys do not match the genesis.
    #[error("{0}")]
    KeyMismatch(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else (network, WAL, consensus engine).
    #[error("{0}")]
    Other(String),
}

/// What `status` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// Committed height.
    pub height: u64,
    /// Hash of the last block (hex).
    pub last_block_hash: String,
    /// Time of the last block (Unix ms).
    pub last_block_time_ms: u64,
    /// App hash after the last block (hex).
    pub app_hash: String,
    /// Pending transactions.
    pub mempool_size: usize,
    /// Whether the consensus loop runs.
    pub consensus: LoopState,
    /// Peers the consensus network is connected to.
    pub peers_connected: usize,
    /// The height the consortium is known to have committed (see [`crate::peers`]);
    /// `None` until enough peers have been heard from since this node started.
    pub consortium_height: Option<u64>,
}

/// State shared between the handle, the consensus app loop and the gossip tasks.
pub(crate) struct Shared {
    pub genesis: Genesis,
    pub org_id: String,
    pub node_key: SigningKey,
    pub store: BlockStore,
    pub mempool: Mutex<Mempool>,
    pub mempool_notify: Notify,
    pub committed: RwLock<HashSet<TxHash>>,
    pub waiters: Mutex<HashMap<TxHash, oneshot::Sender<Receipt>>>,
    pub tip: watch::Sender<Tip>,
    pub gossip_out: mpsc::Sender<Tx>,
    pub executor: Arc<dyn BlockExecutor>,
    pub loop_state: watch::Sender<LoopState>,
    /// Set by [`ChainNode::kill`]: the loop's end is then expected, not a failure to report.
    pub stopping: std::sync::atomic::AtomicBool,
    /// The other validators' progress.
    pub peers: crate::peers::PeerView,
    /// Seconds from the start of a height to its block's commit.
    pub commit_seconds: prometheus_client::metrics::histogram::Histogram,
}

impl Shared {
    /// Refusal of a write while the consensus loop does not run.
    fn not_running(&self) -> Option<SubmitError> {
        match &*self.loop_state.borrow() {
            LoopState::Running => None,
            LoopState::Halted(r) | LoopState::Failed(r) => Some(SubmitError::NotRunning(r.clone())),
        }
    }

    /// Marks the loop stopped and fails every waiting submitter.
    pub fn loop_stopped(&self, state: LoopState) {
        self.loop_state.send_replace(state);
        self.waiters.lock().expect("lock").clear();
    }

    /// Checks and admits a transaction into the mempool.
    pub fn admit(&self, tx: Tx) -> Result<TxHash, TxError> {
        let hash = tx.check(&self.genesis)?;
        self.admit_checked(hash, tx)
    }

    /// Admits a transaction whose signature and size were already checked.
    pub fn admit_checked(&self, hash: TxHash, tx: Tx) -> Result<TxHash, TxError> {
        if self.committed.read().expect("lock").contains(&hash) {
            return Err(TxError::Replayed(hash));
        }
        self.mempool.lock().expect("lock").insert(hash, tx)?;
        self.mempool_notify.notify_one();
        Ok(hash)
    }

    /// Records a committed block: replay set, mempool, waiting submitters, subscribers.
    pub fn on_commit(&self, stored: &StoredBlock, hashes: &[TxHash]) {
        let block = &stored.block;
        self.committed
            .write()
            .expect("lock")
            .extend(hashes.iter().copied());
        self.mempool
            .lock()
            .expect("lock")
            .remove(hashes.iter().copied());
        {
            let mut waiters = self.waiters.lock().expect("lock");
            for (index, hash) in hashes.iter().enumerate() {
                if let Some(w) = waiters.remove(hash) {
                    let _ = w.send(Receipt {
                        height: block.header.height,
                        index: index as u32,
                        tx_hash: *hash,
                    });
                }
            }
        }
        self.tip.send_replace(Tip {
            height: block.header.height,
            hash: block.hash().0,
            time_ms: block.header.time_ms,
            app_hash: stored.app_hash,
        });
    }
}

/// How long a clean stop waits for the app loop to finish the block it is committing.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running node.
pub struct ChainNode {
    shared: Arc<Shared>,
    running: tokio::sync::Mutex<Option<Running>>,
}

struct Running {
    engine: malachitebft_app_channel::EngineHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl ChainNode {
    /// Opens the store, starts the consensus engine, the app loop and transaction gossip.
    pub async fn start(config: NodeConfig) -> Result<ChainNode, StartError> {
        config
            .genesis
            .check()
            .map_err(|e| StartError::Other(e.to_string()))?;
        let org = config
            .genesis
            .org(&config.org_id)
            .ok_or_else(|| StartError::UnknownOrg(config.org_id.clone()))?
            .clone();
        if hex::encode(config.node_key.verifying_key().as_bytes()) != org.node_key {
            return Err(StartError::KeyMismatch(
                "the node key does not match the genesis".into(),
            ));
        }
        if hex::encode(config.validator_key.verifying_key().as_bytes()) != org.validator_key {
            return Err(StartError::KeyMismatch(
                "the validator key does not match the genesis".into(),
            ));
        }
        let pool = match &config.pool {
            Some(pool) => pool.clone(),
            None => connect_and_migrate(&config.database_url).await?,
        };
        let executor: Arc<dyn BlockExecutor> = config
            .executor
            .clone()
            .unwrap_or_else(|| Arc::new(AcceptAll));
        let store = BlockStore::new(pool).with_keeper(executor.payload_keeper());
        let tip = store.tip().await?.unwrap_or(Tip {
            height: 0,
            hash: [0; 32],
            time_ms: config.genesis.genesis_time_ms,
            app_hash: config.genesis.hash(),
        });
        let committed: HashSet<TxHash> = store.all_tx_hashes().await?.into_iter().collect();
        let (gossip_out, gossip_rx) = mpsc::channel(100_000);
        let shared = Arc::new(Shared {
            genesis: config.genesis.clone(),
            org_id: config.org_id.clone(),
            node_key: config.node_key.clone(),
            store,
            mempool: Mutex::new(Mempool::new(config.tuning.mempool_capacity)),
            mempool_notify: Notify::new(),
            committed: RwLock::new(committed),
            waiters: Mutex::new(HashMap::new()),
            tip: watch::Sender::new(tip),
            gossip_out,
            executor,
            loop_state: watch::Sender::new(LoopState::Running),
            stopping: std::sync::atomic::AtomicBool::new(false),
            peers: Default::default(),
            commit_seconds: prometheus_client::metrics::histogram::Histogram::new(
                COMMIT_SECONDS_BUCKETS.iter().copied(),
            ),
        });
        let mut tasks = crate::gossip::start(shared.clone(), &org, &config.listen, gossip_rx)
            .await
            .map_err(|e| StartError::Other(format!("transaction gossip: {e}")))?;
        let (engine, app) = crate::engine::app::start(shared.clone(), &config)
            .await
            .map_err(|e| StartError::Other(format!("consensus engine: {e}")))?;
        tasks.push(app);
        Ok(ChainNode {
            shared,
            running: tokio::sync::Mutex::new(Some(Running { engine, tasks })),
        })
    }

    /// Signs `payload` as this organisation and waits until it is committed.
    pub async fn submit(&self, payload: Vec<u8>) -> Result<Receipt, SubmitError> {
        if let Some(e) = self.shared.not_running() {
            return Err(e);
        }
        let max = self.shared.genesis.params.max_tx_bytes;
        if payload.len() > max {
            return Err(TxError::TooLarge {
                size: payload.len(),
                max,
            }
            .into());
        }
        let tx = Tx::new_signed(
            &self.shared.org_id,
            rand::random(),
            payload,
            &self.shared.node_key,
        );
        // Signed just now with our own key: no need to verify it again.
        let hash = tx.hash();
        self.submit_admitted(hash, tx, |tx| self.shared.admit_checked(hash, tx))
            .await
    }

    /// Submits an already signed transaction (any organisation's) and waits until it is
    /// committed. Refusals (bad signature, unknown org, size, replay) come back at once.
    pub async fn submit_tx(&self, tx: Tx) -> Result<Receipt, SubmitError> {
        if let Some(e) = self.shared.not_running() {
            return Err(e);
        }
        let hash = tx.hash();
        self.submit_admitted(hash, tx, |tx| self.shared.admit(tx))
            .await
    }

    /// Registers a waiter for `hash`, admits the transaction with `admit`, gossips it and
    /// waits for its commit.
    async fn submit_admitted(
        &self,
        hash: TxHash,
        tx: Tx,
        admit: impl FnOnce(Tx) -> Result<TxHash, TxError>,
    ) -> Result<Receipt, SubmitError> {
        let (send, recv) = oneshot::channel();
        self.shared.waiters.lock().expect("lock").insert(hash, send);
        // Looked at again after registering: a loop that stopped in between has cleared
        // the waiters, and this one would wait forever.
        if let Some(e) = self.shared.not_running() {
            self.shared.waiters.lock().expect("lock").remove(&hash);
            return Err(e);
        }
        if let Err(e) = admit(tx.clone()) {
            self.shared.waiters.lock().expect("lock").remove(&hash);
            return Err(e.into());
        }
        let _ = self.shared.gossip_out.try_send(tx);
        recv.await.map_err(|_| SubmitError::Stopped)
    }

    /// Committed blocks from `from_height` on, in order, without gaps, then live.
    pub fn subscribe(
        &self,
        from_height: u64,
    ) -> impl Stream<Item = Result<StoredBlock, StoreError>> + Send + 'static {
        let store = self.shared.store.clone();
        let rx = self.shared.tip.subscribe();
        futures::stream::unfold(
            (from_height.max(1), rx, store),
            |(next, mut rx, store)| async move {
                loop {
                    let tip = rx.borrow_and_update().height;
                    if next <= tip {
                        return match store.block(next).await {
                            Ok(Some(b)) => Some((Ok(b), (next + 1, rx, store))),
                            Ok(None) => Some((
                                Err(StoreError::Corrupt(format!("block {next} is missing"))),
                                (next, rx, store),
                            )),
                            Err(e) => Some((Err(e), (next, rx, store))),
                        };
                    }
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            },
        )
    }

    /// An inclusion proof for a committed transaction.
    pub async fn proof(&self, tx_hash: &TxHash) -> Result<Option<TxProof>, StoreError> {
        let Some((height, index)) = self.shared.store.tx_location(tx_hash).await? else {
            return Ok(None);
        };
        self.proof_at(height, index).await.map(Some)
    }

    /// The inclusion proof of the transaction at (height, index) of the committed chain.
    pub async fn proof_at(&self, height: u64, index: u32) -> Result<TxProof, StoreError> {
        let stored = self
            .shared
            .store
            .block(height)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("block {height} is missing")))?;
        let leaves: Vec<_> = stored.block.txs.iter().map(Tx::leaf).collect();
        let path = merkle::path(&leaves, index as usize)
            .ok_or_else(|| StoreError::Corrupt("tx index out of range".into()))?;
        Ok(TxProof {
            tx: stored.block.txs[index as usize].clone(),
            index,
            path,
            header: stored.block.header.clone(),
            certificate: stored.certificate,
        })
    }

    /// The committed block at `height`.
    pub async fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        Ok(self.shared.store.block(height).await?.map(|b| b.block))
    }

    /// Height, last block and mempool size.
    pub fn status(&self) -> Status {
        let tip = self.shared.tip.borrow().clone();
        Status {
            height: tip.height,
            last_block_hash: hex::encode(tip.hash),
            last_block_time_ms: tip.time_ms,
            app_hash: hex::encode(tip.app_hash),
            mempool_size: self.shared.mempool.lock().expect("lock").len(),
            consensus: self.shared.loop_state.borrow().clone(),
            peers_connected: self.shared.peers.connected(),
            consortium_height: self
                .shared
                .peers
                .consortium_height(self.shared.genesis.orgs.len()),
        }
    }

    /// Seconds from the start of each height to its commit, since this node started: a
    /// handle onto the node's histogram, for a metrics registry.
    pub fn commit_seconds(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.shared.commit_seconds.clone()
    }

    /// The consensus loop's state, observable for changes (a supervisor exits on
    /// [`LoopState::Failed`]).
    pub fn watch_consensus(&self) -> watch::Receiver<LoopState> {
        self.shared.loop_state.subscribe()
    }

    /// The committed tip, observable for changes.
    pub fn watch_tip(&self) -> watch::Receiver<Tip> {
        self.shared.tip.subscribe()
    }

    /// The genesis this node runs.
    pub fn genesis(&self) -> &Genesis {
        &self.shared.genesis
    }

    /// The database pool this node's store uses (the node's one database).
    pub fn pool(&self) -> &sqlx::AnyPool {
        self.shared.store.pool()
    }

    /// Stops the node abruptly, as a crash would: consensus, app loop and gossip end, and
    /// waiting submitters get [`SubmitError::Stopped`]. What was committed stays committed;
    /// a block being committed at that moment may be applied by the executor but not stored,
    /// and is taken again from the consortium at the next start. Idempotent.
    pub async fn kill(&self) {
        self.halt(Duration::ZERO).await;
    }

    /// Stops the node cleanly: consensus ends, the app loop finishes the block it is
    /// committing (waiting up to [`STOP_GRACE`]), then everything else stops as in
    /// [`ChainNode::kill`]. After a clean stop the executor's state and the stored chain
    /// end at the same height, so `consort verify` can check the database at once.
    pub async fn stop(&self) {
        self.halt(STOP_GRACE).await;
    }

    async fn halt(&self, grace: Duration) {
        let Some(running) = self.running.lock().await.take() else {
            return;
        };
        self.shared
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = running.engine.actor.kill_and_wait(None).await;
        running.engine.handle.abort();
        let mut tasks = running.tasks;
        // The app loop is the last task; with the engine gone its channel closes, and it
        // returns once the message in hand is handled.
        if !grace.is_zero()
            && let Some(mut app) = tasks.pop()
            && tokio::time::timeout(grace, &mut app).await.is_err()
        {
            tracing::warn!("the app loop did not finish within {grace:?}; stopping it");
            tasks.push(app);
        }
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
        self.shared.waiters.lock().expect("lock").clear();
        self.shared.store.pool().close().await;
    }
}

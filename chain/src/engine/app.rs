//! The application side of Malachite's channel interface: builds and streams proposals,
//! validates received ones, commits decided blocks, serves and accepts synced blocks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use malachitebft_app_channel::app::config::{
    ConsensusConfig, NodeConfig as MalachiteNodeConfig, P2pConfig, PubSubProtocol, ValueSyncConfig,
};
use malachitebft_app_channel::app::engine::host::{Next, SyncedValueOutcome};
use malachitebft_app_channel::app::net::Multiaddr;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, ExtendedCommitCertificate, ExtendedCommitSignature, HeightParams,
    LinearTimeouts, Round, Validity,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{Keypair, LocallyProposedValue, ProposedValue};
use malachitebft_app_channel::{
    AppMsg, Channels, ConsensusContext, EngineBuilder, EngineHandle, NetworkContext,
    NetworkIdentity, NetworkMsg, RequestContext, Signer, SyncContext, WalContext,
};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::codec::BorshCodec;
use super::context::ConsortContext;
use super::signing::{ConsensusSigner, ConsensusVerifier, Signature};
use super::streaming::{AssembledProposal, PartStreams};
use super::types::{
    Address, Height, ProposalInit, ProposalPart, ValidatorSet, proposal_fin_sign_bytes,
};
use crate::block::{Block, BlockHeader, Tip, next_app_hash, validate_block};
use crate::crypto::sha256;
use crate::node::{LoopState, NodeConfig, Shared};
use crate::store::{StoredBlock, Undecided};
use crate::tx::{Tx, TxHash};

/// Size of one streamed data chunk.
const CHUNK: usize = 256 * 1024;

/// Malachite's node configuration, derived from the genesis and our org entry.
#[derive(Clone, Debug)]
struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl MalachiteNodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }

    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }

    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

fn parse_multiaddr(s: &str) -> Result<Multiaddr, String> {
    s.parse().map_err(|e| format!("bad p2p address {s}: {e}"))
}

/// Starts Malachite (network, WAL, consensus, sync) as a validator and the app loop.
pub(crate) async fn start(
    shared: Arc<Shared>,
    config: &NodeConfig,
) -> Result<(EngineHandle, JoinHandle<()>), String> {
    let genesis = shared.genesis.clone();
    let me = genesis
        .org(&config.org_id)
        .ok_or("organisation not in genesis")?;
    let persistent_peers = genesis
        .orgs
        .iter()
        .filter(|o| o.id != me.id)
        .map(|o| parse_multiaddr(&o.p2p_addr))
        .collect::<Result<Vec<_>, _>>()?;
    let engine_config = EngineConfig {
        moniker: me.id.clone(),
        consensus: ConsensusConfig {
            p2p: P2pConfig {
                listen_addr: parse_multiaddr(config.listen.p2p.as_deref().unwrap_or(&me.p2p_addr))?,
                persistent_peers,
                // Inbound connections are accepted before the peer is identified: with
                // "persistent peers only", two nodes that dial each other at the same time
                // can keep rejecting each other. Every consensus message is still verified
                // against the genesis validator set.
                persistent_peers_only: false,
                // Every validator dials every other (persistent peers): sending each message
                // straight to all of them is simpler and faster than a gossip mesh.
                protocol: PubSubProtocol::Broadcast,
                ..Default::default()
            },
            ..Default::default()
        },
        value_sync: ValueSyncConfig {
            enabled: true,
            status_update_interval: Duration::from_millis(500),
            request_timeout: Duration::from_secs(5),
            batch_size: 20,
            ..Default::default()
        },
    };

    let validator_key = config.validator_key.clone();
    let public_key = validator_key.verifying_key();
    let address = Address::from_public_key(&public_key);
    // A stable libp2p identity derived from (but not equal to) the validator key.
    let net_secret = sha256(&[b"consort-p2p-identity", validator_key.as_bytes()]);
    let keypair = Keypair::ed25519_from_bytes(net_secret).map_err(|e| e.to_string())?;
    let peer_id_bytes = keypair.public().to_peer_id().to_bytes();
    let signer = ConsensusSigner::new(validator_key.clone());
    let proof = signer
        .sign_validator_proof(public_key.as_bytes().to_vec(), peer_id_bytes)
        .await
        .map_err(|e| e.to_string())?;
    let proof_bytes = BorshCodec.encode(&proof).map_err(|e| e.to_string())?;
    let identity =
        NetworkIdentity::new_validator(me.id.clone(), keypair, address.to_string(), proof_bytes);

    std::fs::create_dir_all(config.home.join("wal")).map_err(|e| e.to_string())?;
    let (channels, engine) = EngineBuilder::new(ConsortContext, engine_config)
        .with_default_wal(WalContext::new(
            config.home.join("wal").join("consensus.wal"),
            BorshCodec,
        ))
        .with_default_network(NetworkContext::new(identity, BorshCodec))
        .with_default_consensus(ConsensusContext::new_validator(
            address,
            Box::new(ConsensusVerifier),
            Box::new(ConsensusSigner::new(validator_key.clone())),
        ))
        .with_default_sync(SyncContext::new(BorshCodec))
        .with_default_request(RequestContext::new(100))
        .build()
        .await
        .map_err(|e| e.to_string())?;

    let tip = shared.tip.borrow().clone();
    let tuning = &config.tuning;
    let timeouts = LinearTimeouts {
        propose: tuning.propose_timeout,
        propose_delta: tuning.timeout_delta,
        prevote: tuning.prevote_timeout,
        prevote_delta: tuning.timeout_delta,
        precommit: tuning.precommit_timeout,
        precommit_delta: tuning.timeout_delta,
        rebroadcast: tuning.propose_timeout + tuning.prevote_timeout + tuning.precommit_timeout,
        max_timeout: Duration::from_secs(10),
    };
    let max_stream = shared.genesis.params.max_block_bytes * 2 + 1024 * 1024;
    let mut app = App {
        validator_set: shared.genesis.validator_set(),
        shared,
        address,
        key: validator_key,
        timeouts,
        empty_block_wait: tuning.empty_block_wait,
        empty_block_interval: tuning.empty_block_interval,
        batch_wait: tuning.batch_wait,
        held: None,
        peer_height: 0,
        synced_height: 0,
        tip,
        current: (Height(0), Round::Nil),
        height_started: None,
        streams: PartStreams::new(64, max_stream),
        future: BTreeMap::new(),
        pending: Vec::new(),
    };
    let span = tracing::info_span!("chain", org = %me.id);
    let actor = engine.actor.clone();
    let mut observers = tokio::task::JoinSet::new();
    observers.spawn(super::observe::peer_heights(
        channels.events.subscribe(),
        app.shared.clone(),
        app.validator_set.clone(),
        address,
    ));
    observers.spawn(super::observe::connected_peers(
        channels.net_requests.clone(),
        app.shared.clone(),
    ));
    let handle = tokio::spawn(tracing::Instrument::instrument(
        async move {
            // The observers live as long as the loop (dropping the set aborts them).
            let _observers = observers;
            let mut channels = channels;
            let shared = app.shared.clone();
            let stop = app.run(&mut channels).await;
            if shared.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                info!("consensus stopped with the node");
                shared.loop_stopped(LoopState::Failed("the node was stopped".into()));
                return;
            }
            let state = match stop {
                Stop::Diverged(reason) => {
                    error!(%reason, "application state diverged from the consortium's: this node stops applying blocks and takes no writes until an operator acts (`consort verify` shows where)");
                    LoopState::Halted(reason)
                }
                Stop::Failed(reason) => {
                    error!(%reason, "the consensus loop stopped");
                    LoopState::Failed(reason)
                }
            };
            shared.loop_stopped(state);
            // Without its application the engine cannot decide anything: stop it too.
            actor.stop(Some("the consensus application stopped".into()));
        },
        span,
    ));
    Ok((engine, handle))
}

/// Why the app loop ended.
enum Stop {
    /// Our app hash differs from the one the consortium decided on.
    Diverged(String),
    /// An error that retries did not clear, or the engine went away.
    Failed(String),
}

/// A failed commit: a divergence ends the loop at once, anything else is retried.
enum CommitError {
    Diverged(String),
    Other(String),
}

/// Attempts at committing one decided block before the loop gives up (with a doubling
/// pause from 100 ms between them).
const COMMIT_ATTEMPTS: u32 = 5;

/// A `Finalized` answer held back while there is nothing to propose, so that an idle
/// consortium does not decide empty heights: released by a transaction in the mempool, a
/// proposal from a peer that went on, or the heartbeat at `due`.
struct HeldStart {
    reply: malachitebft_app_channel::Reply<Next<ConsortContext>>,
    due: tokio::time::Instant,
}

/// A committed block older than this is history being caught up with: the next height
/// starts at once instead of waiting for a transaction.
const CATCH_UP_AGE_MS: u64 = 2_000;

struct App {
    shared: Arc<Shared>,
    address: Address,
    key: SigningKey,
    validator_set: ValidatorSet,
    timeouts: LinearTimeouts,
    empty_block_wait: Duration,
    empty_block_interval: Duration,
    batch_wait: Duration,
    /// The start of the next height, held while there is nothing to propose.
    held: Option<HeldStart>,
    /// The highest height any peer has shown us (a proposal or a synced value). Above our
    /// tip, the consortium has moved on and a held start must go at once: a restarted node
    /// that takes the last blocks by sync would otherwise wait for the heartbeat.
    peer_height: u64,
    /// The last height whose value came by sync rather than by our own round: a node that
    /// is syncing is behind, and holding its next height would leave it behind until the
    /// heartbeat (the engine passes on synced values only for the height in progress).
    synced_height: u64,
    tip: Tip,
    current: (Height, Round),
    /// When the height in progress started, for the commit latency histogram.
    height_started: Option<(u64, std::time::Instant)>,
    streams: PartStreams,
    /// Complete proposals for heights we have not reached yet, validated when we get there.
    future: BTreeMap<u64, Vec<AssembledProposal>>,
    /// Proposals above the tip that we built or judged, in memory; the store keeps a copy
    /// for restarts.
    pending: Vec<Undecided>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl App {
    /// Records a proposal we built or judged: in memory and, for restarts, in the store.
    async fn remember(&mut self, u: Undecided) -> Result<(), String> {
        self.shared
            .store
            .put_undecided(&u)
            .await
            .map_err(|e| e.to_string())?;
        self.pending.push(u);
        Ok(())
    }

    /// Proposals known at `height`: from memory, or from the store after a restart.
    async fn known_at(&self, height: u64) -> Vec<Undecided> {
        let mine: Vec<Undecided> = self
            .pending
            .iter()
            .filter(|u| u.block.header.height == height)
            .cloned()
            .collect();
        if !mine.is_empty() {
            return mine;
        }
        self.shared
            .store
            .undecided_at(height)
            .await
            .unwrap_or_else(|e| {
                error!(error = %e, "reading undecided proposals failed");
                Vec::new()
            })
    }

    fn params(&self) -> HeightParams<ConsortContext> {
        HeightParams::new(self.validator_set.clone(), self.timeouts, None)
    }

    fn next_height(&self) -> Height {
        Height(self.tip.height + 1)
    }

    /// Whether a held start of the next height should go now.
    fn start_due(&self, held: &HeldStart) -> bool {
        self.peer_height > self.tip.height
            || tokio::time::Instant::now() >= held.due
            || !self.shared.mempool.lock().expect("lock").is_empty()
    }

    /// Answers a held `Finalized` when its time has come.
    fn release_held(&mut self) {
        if self.held.as_ref().is_some_and(|h| self.start_due(h)) {
            let held = self.held.take().expect("checked above");
            debug!(height = %self.next_height(), "starting the next height");
            let _ = held
                .reply
                .send(Next::Start(self.next_height(), self.params()));
        }
    }

    /// The next message from the engine; while the next height's start is held, also wakes
    /// for a transaction or the heartbeat, and releases the start.
    async fn next_message(
        &mut self,
        channels: &mut Channels<ConsortContext>,
    ) -> Option<AppMsg<ConsortContext>> {
        loop {
            self.release_held();
            let Some(due) = self.held.as_ref().map(|h| h.due) else {
                return channels.consensus.recv().await;
            };
            let notified = self.shared.mempool_notify.notified();
            // Looked at once the notification is armed: a transaction admitted in between is
            // seen here, one admitted later wakes the wait.
            if !self.shared.mempool.lock().expect("lock").is_empty() {
                continue;
            }
            tokio::select! {
                msg = channels.consensus.recv() => return msg,
                _ = notified => {}
                _ = tokio::time::sleep_until(due) => {}
            }
        }
    }

    /// Commits with retries: transient store or executor errors are tried again with a
    /// pause; a divergence, or an error that outlasts the retries, ends the loop.
    async fn commit_retrying(
        &mut self,
        certificate: &CommitCertificate<ConsortContext>,
    ) -> Result<(), Stop> {
        let mut pause = Duration::from_millis(100);
        for attempt in 1..=COMMIT_ATTEMPTS {
            match self.commit(certificate.clone()).await {
                Ok(()) => {
                    if let Some((height, started)) = self.height_started
                        && height == certificate.height.0
                    {
                        self.shared
                            .commit_seconds
                            .observe(started.elapsed().as_secs_f64());
                        self.height_started = None;
                    }
                    return Ok(());
                }
                Err(CommitError::Diverged(reason)) => return Err(Stop::Diverged(reason)),
                Err(CommitError::Other(e)) if attempt == COMMIT_ATTEMPTS => {
                    return Err(Stop::Failed(format!(
                        "committing height {} failed {COMMIT_ATTEMPTS} times: {e}",
                        certificate.height
                    )));
                }
                Err(CommitError::Other(e)) => {
                    warn!(height = %certificate.height, attempt, error = %e, "commit failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn run(&mut self, channels: &mut Channels<ConsortContext>) -> Stop {
        match self.serve(channels).await {
            Ok(()) => Stop::Failed("the consensus engine stopped".into()),
            Err(stop) => stop,
        }
    }

    async fn serve(&mut self, channels: &mut Channels<ConsortContext>) -> Result<(), Stop> {
        let engine_gone = |e: String| Stop::Failed(format!("the consensus engine went away: {e}"));
        while let Some(msg) = self.next_message(channels).await {
            match msg {
                AppMsg::ConsensusReady { reply } => {
                    info!(height = %self.next_height(), "consensus ready");
                    let _ = reply.send((self.next_height(), self.params()));
                }
                AppMsg::StartedRound {
                    height,
                    round,
                    proposer,
                    role,
                    reply_value,
                } => {
                    debug!(%height, %round, %proposer, ?role, "started round");
                    if self.current.0 != height {
                        self.height_started = Some((height.0, std::time::Instant::now()));
                    }
                    self.current = (height, round);
                    let values = self.started_round(height, round).await;
                    let _ = reply_value.send(values);
                }
                AppMsg::GetValue {
                    height,
                    round,
                    timeout,
                    reply,
                } => {
                    let started = std::time::Instant::now();
                    let block = self.build_or_reuse_retrying(height, round, timeout).await?;
                    debug!(%height, txs = block.txs.len(), ms = started.elapsed().as_millis() as u64, "built proposal");
                    let hash = block.hash();
                    let _ = reply.send(LocallyProposedValue::new(height, round, hash));
                    for msg in self.stream_messages(&block, height, round, Round::Nil) {
                        channels
                            .network
                            .send(NetworkMsg::PublishProposalPart(msg))
                            .await
                            .map_err(|e| engine_gone(e.to_string()))?;
                    }
                }
                AppMsg::ReceivedProposalPart {
                    from,
                    published_by,
                    part,
                    reply,
                } => {
                    let value = match self.streams.insert(published_by.unwrap_or(from), part) {
                        Some(p) => {
                            self.peer_height = self.peer_height.max(p.init.height.0);
                            let started = std::time::Instant::now();
                            let v = self.received_proposal(p).await;
                            debug!(ms = started.elapsed().as_millis() as u64, "judged proposal");
                            v
                        }
                        None => None,
                    };
                    let _ = reply.send(value);
                }
                AppMsg::Decided {
                    certificate, reply, ..
                } => {
                    self.commit_retrying(&certificate).await?;
                    let _ = reply.send(());
                }
                AppMsg::Finalized {
                    certificate, reply, ..
                } => {
                    self.commit_retrying(&certificate).await?;
                    // Nothing to propose and the block is fresh: hold the next height until
                    // a transaction comes (or the heartbeat is due).
                    let catching_up = now_ms().saturating_sub(self.tip.time_ms) > CATCH_UP_AGE_MS
                        || self.synced_height >= self.tip.height;
                    let held = HeldStart {
                        reply,
                        due: tokio::time::Instant::now() + self.empty_block_interval,
                    };
                    if catching_up {
                        let _ = held
                            .reply
                            .send(Next::Start(self.next_height(), self.params()));
                    } else {
                        self.held = Some(held);
                    }
                }
                AppMsg::GetDecidedValues { range, reply } => {
                    let values = self.decided_values(*range.start(), *range.end()).await;
                    let _ = reply.send(values);
                }
                AppMsg::ProcessSyncedValue {
                    height,
                    round,
                    proposer,
                    value_bytes,
                    reply,
                } => {
                    self.peer_height = self.peer_height.max(height.0);
                    let outcome = self
                        .synced_value(height, round, proposer, value_bytes)
                        .await;
                    if matches!(outcome, SyncedValueOutcome::Verdict(_)) {
                        self.synced_height = self.synced_height.max(height.0);
                        self.shared.peers.certified(height.0);
                    }
                    let _ = reply.send(outcome);
                }
                AppMsg::GetHistoryMinHeight { reply } => {
                    let _ = reply.send(Height(1));
                }
                AppMsg::RestreamProposal {
                    height,
                    round,
                    valid_round,
                    address,
                    value_id,
                } => {
                    if address != self.address {
                        continue;
                    }
                    let Some(block) = self
                        .known_at(height.0)
                        .await
                        .into_iter()
                        .find(|u| u.block.hash() == value_id)
                        .map(|u| u.block)
                    else {
                        continue;
                    };
                    for msg in self.stream_messages(&block, height, round, valid_round) {
                        channels
                            .network
                            .send(NetworkMsg::PublishProposalPart(msg))
                            .await
                            .map_err(|e| engine_gone(e.to_string()))?;
                    }
                }
                AppMsg::ExtendVote { reply, .. } => {
                    let _ = reply.send(None);
                }
                AppMsg::VerifyVoteExtensions {
                    extensions, reply, ..
                } => {
                    let _ = reply.send(extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect());
                }
            }
        }
        Ok(())
    }

    /// [`App::build_or_reuse`], retried when storing the proposal fails.
    async fn build_or_reuse_retrying(
        &mut self,
        height: Height,
        round: Round,
        timeout: Duration,
    ) -> Result<Block, Stop> {
        let mut pause = Duration::from_millis(50);
        for attempt in 1..=3 {
            match self.build_or_reuse(height, round, timeout).await {
                Ok(block) => return Ok(block),
                Err(e) if attempt == 3 => {
                    return Err(Stop::Failed(format!(
                        "building a proposal for height {height} failed 3 times: {e}"
                    )));
                }
                Err(e) => {
                    warn!(%height, attempt, error = %e, "building a proposal failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Validates stashed proposals for this height and returns the values already known
    /// for this round (ours or others', e.g. after a restart).
    async fn started_round(
        &mut self,
        height: Height,
        round: Round,
    ) -> Vec<ProposedValue<ConsortContext>> {
        let stale: Vec<u64> = self.future.range(..=height.0).map(|(h, _)| *h).collect();
        for h in stale {
            let proposals = self.future.remove(&h).unwrap_or_default();
            if h == height.0 {
                for p in proposals {
                    self.received_proposal(p).await;
                }
            }
        }
        self.known_at(height.0)
            .await
            .into_iter()
            .filter(|u| u.round == round.as_i64())
            .map(|u| ProposedValue {
                height,
                round,
                valid_round: Round::Nil,
                proposer: u.proposer,
                value: u.block.hash(),
                validity: Validity::from_bool(u.valid),
            })
            .collect()
    }

    async fn build_or_reuse(
        &mut self,
        height: Height,
        round: Round,
        timeout: Duration,
    ) -> Result<Block, String> {
        if let Some(u) = self
            .known_at(height.0)
            .await
            .into_iter()
            .find(|u| u.round == round.as_i64() && u.proposer == self.address)
        {
            return Ok(u.block);
        }
        // An idle proposer waits for a transaction (up to `empty_block_wait`) before
        // proposing an empty block. The notification is armed before the mempool is looked
        // at, and a leftover wake-up from transactions already taken is not mistaken for a
        // new one: the loop looks again.
        let deadline = tokio::time::Instant::now() + self.empty_block_wait.min(timeout / 2);
        loop {
            let notified = self.shared.mempool_notify.notified();
            if !self.shared.mempool.lock().expect("lock").is_empty() {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        let waiting = self.shared.mempool.lock().expect("lock").len();
        if waiting > 0 && waiting < self.shared.genesis.params.max_block_txs {
            tokio::time::sleep(self.batch_wait.min(timeout / 4)).await;
        }
        let params = &self.shared.genesis.params;
        let txs = {
            let committed = self.shared.committed.read().expect("lock");
            self.shared
                .mempool
                .lock()
                .expect("lock")
                .select(params.max_block_txs, params.max_block_bytes)
                .into_iter()
                .filter(|t| !committed.contains(&t.hash()))
                .collect::<Vec<_>>()
        };
        let header = BlockHeader {
            chain_id: self.shared.genesis.chain_id.clone(),
            height: height.0,
            time_ms: now_ms().max(self.tip.time_ms),
            proposer: self.address,
            prev_hash: self.tip.hash,
            tx_root: Block::compute_tx_root(&txs),
            tx_count: txs.len() as u32,
            app_hash: self.tip.app_hash,
        };
        let block = Block { header, txs };
        self.remember(Undecided {
            round: round.as_i64(),
            proposer: self.address,
            valid: true,
            block: block.clone(),
        })
        .await?;
        debug!(%height, %round, txs = block.txs.len(), "proposing block");
        Ok(block)
    }

    fn stream_messages(
        &self,
        block: &Block,
        height: Height,
        round: Round,
        pol_round: Round,
    ) -> Vec<StreamMessage<ProposalPart>> {
        let init = ProposalInit {
            height,
            round,
            pol_round,
            proposer: self.address,
        };
        let signature = Signature::sign(&self.key, &proposal_fin_sign_bytes(&init, &block.hash()));
        let stream_id = StreamId::new(Bytes::from(
            borsh::to_vec(&(height, round)).expect("writing to a Vec cannot fail"),
        ));
        let encoded = block.encode();
        let mut contents = vec![StreamContent::Data(ProposalPart::Init(init))];
        contents.extend(
            encoded
                .chunks(CHUNK)
                .map(|c| StreamContent::Data(ProposalPart::Data(c.to_vec()))),
        );
        contents.push(StreamContent::Data(ProposalPart::Fin(signature)));
        contents.push(StreamContent::Fin);
        contents
            .into_iter()
            .enumerate()
            .map(|(i, c)| StreamMessage::new(stream_id.clone(), i as u64, c))
            .collect()
    }

    /// Checks a block against our tip; `proposer` is the round's proposer.
    fn judge(&self, block: &Block, proposer: &Address) -> Validity {
        self.judge_against(block, proposer, &self.tip)
    }

    /// Checks a block as the successor of `tip`.
    fn judge_against(&self, block: &Block, proposer: &Address, tip: &Tip) -> Validity {
        let committed = self.shared.committed.read().expect("lock");
        let mempool = self.shared.mempool.lock().expect("lock");
        let result = validate_block(
            block,
            tip,
            proposer,
            &self.shared.genesis,
            &|h| committed.contains(h),
            &|tx| mempool.contains_verified(tx, &tx.hash()),
        );
        match result {
            Ok(()) => Validity::Valid,
            Err(e) => {
                warn!(height = block.header.height, error = %e, "refusing proposed block");
                Validity::Invalid
            }
        }
    }

    async fn received_proposal(
        &mut self,
        p: AssembledProposal,
    ) -> Option<ProposedValue<ConsortContext>> {
        let validator = self
            .validator_set
            .validators
            .iter()
            .find(|v| v.address == p.init.proposer)?;
        let block = Block::decode(&p.data).ok()?;
        let hash = block.hash();
        if !p.signature.verify(
            &validator.public_key,
            &proposal_fin_sign_bytes(&p.init, &hash),
        ) {
            warn!(proposer = %p.init.proposer, "proposal with a bad signature dropped");
            return None;
        }
        let height = p.init.height;
        if height.0 <= self.tip.height {
            return None;
        }
        if height.0 > self.tip.height + 1 {
            let heights = self.future.len();
            let stash = self.future.entry(height.0).or_default();
            if heights <= 16 && stash.len() < 16 {
                stash.push(p);
            }
            return None;
        }
        let validity = self.judge(&block, &p.init.proposer);
        let stored = self
            .remember(Undecided {
                round: p.init.round.as_i64(),
                proposer: p.init.proposer,
                valid: validity.is_valid(),
                block,
            })
            .await;
        if let Err(e) = stored {
            error!(error = %e, "could not store a received proposal");
            return None;
        }
        Some(ProposedValue {
            height,
            round: p.init.round,
            valid_round: p.init.pol_round,
            proposer: p.init.proposer,
            value: hash,
            validity,
        })
    }

    /// Commits the decided block: execute, store with certificate, update shared state.
    async fn commit(
        &mut self,
        certificate: CommitCertificate<ConsortContext>,
    ) -> Result<(), CommitError> {
        let height = certificate.height.0;
        if height <= self.tip.height {
            return Ok(());
        }
        if height != self.tip.height + 1 {
            return Err(CommitError::Other(format!(
                "decided height {height} does not follow {}",
                self.tip.height
            )));
        }
        let block = self
            .known_at(height)
            .await
            .into_iter()
            .find(|u| u.block.hash() == certificate.value_id)
            .map(|u| u.block)
            .ok_or_else(|| {
                CommitError::Other(format!("decided block {} is unknown", certificate.value_id))
            })?;
        // The decided header carries the consortium's app hash after our tip: a node that
        // applied an earlier block differently finds out here, and applies nothing more.
        if block.header.app_hash != self.tip.app_hash {
            return Err(CommitError::Diverged(format!(
                "the block decided at height {height} says the app hash after height {} is {}, ours is {}",
                self.tip.height,
                hex::encode(block.header.app_hash),
                hex::encode(self.tip.app_hash)
            )));
        }
        let started = std::time::Instant::now();
        let executed = self
            .shared
            .executor
            .execute(&block)
            .await
            .map_err(CommitError::Other)?;
        let app_hash = next_app_hash(&self.tip.app_hash, &certificate.value_id, &executed.outcome);
        let stored = StoredBlock {
            block,
            certificate,
            app_hash,
        };
        let hashes: Vec<TxHash> = stored.block.txs.iter().map(Tx::hash).collect();
        self.shared
            .store
            .commit_with_hashes(&stored, &hashes, &executed.kept)
            .await
            .map_err(|e| CommitError::Other(e.to_string()))?;
        self.shared.on_commit(&stored, &hashes);
        self.tip = self.shared.tip.borrow().clone();
        let tip = self.tip.height;
        self.pending.retain(|u| u.block.header.height > tip);
        debug!(
            height,
            txs = stored.block.txs.len(),
            ms = started.elapsed().as_millis() as u64,
            "committed block"
        );
        Ok(())
    }

    async fn decided_values(
        &self,
        from: Height,
        to: Height,
    ) -> Vec<RawDecidedValue<ConsortContext>> {
        let mut out = Vec::new();
        let to = to.0.min(from.0.saturating_add(100)).min(self.tip.height);
        for h in from.0.max(1)..=to {
            match self.shared.store.block(h).await {
                Ok(Some(s)) => {
                    let c = s.certificate;
                    let certificate = ExtendedCommitCertificate {
                        height: c.height,
                        round: c.round,
                        value_id: c.value_id,
                        commit_signatures: c
                            .commit_signatures
                            .into_iter()
                            .map(|s| ExtendedCommitSignature::new(s.address, s.signature, None))
                            .collect(),
                    };
                    out.push(RawDecidedValue::new(
                        Bytes::from(s.block.encode()),
                        certificate,
                    ));
                }
                _ => break,
            }
        }
        out
    }

    async fn synced_value(
        &mut self,
        height: Height,
        round: Round,
        proposer: Address,
        value_bytes: Bytes,
    ) -> SyncedValueOutcome<ConsortContext> {
        let Ok(block) = Block::decode(&value_bytes) else {
            return SyncedValueOutcome::PeerFault;
        };
        if block.header.height != height.0 {
            return SyncedValueOutcome::PeerFault;
        }
        let validity = if height.0 == self.tip.height + 1 {
            // A synced block comes with the consortium's certificate: judged on everything
            // but the app hash, so that a diverged node takes it and halts at commit instead
            // of refusing it forever.
            self.judge_against(
                &block,
                &proposer,
                &Tip {
                    app_hash: block.header.app_hash,
                    ..self.tip.clone()
                },
            )
        } else {
            return SyncedValueOutcome::LocalTransientError;
        };
        let value = block.hash();
        if let Err(e) = self
            .remember(Undecided {
                round: round.as_i64(),
                proposer,
                valid: validity.is_valid(),
                block,
            })
            .await
        {
            error!(error = %e, "could not store a synced block");
            return SyncedValueOutcome::LocalTransientError;
        }
        SyncedValueOutcome::Verdict(ProposedValue {
            height,
            round,
            valid_round: Round::Nil,
            proposer,
            value,
            validity,
        })
    }
}

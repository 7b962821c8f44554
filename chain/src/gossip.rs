//! Transaction gossip: every node pushes the transactions submitted to it to every other
//! organisation's node over TCP, so whichever validator proposes next can include them.
//! Frames are a 4-byte big-endian length and a borsh `Vec<Tx>`; receivers check every
//! transaction as if it were submitted locally, so a peer can't inject anything invalid.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::genesis::OrgEntry;
use crate::node::Shared;
use crate::tx::Tx;

/// Largest frame accepted from a peer.
const MAX_FRAME: usize = 16 * 1024 * 1024;
/// Largest batch sent in one frame.
const MAX_BATCH: usize = 2_000;
/// A transaction still pending after this long is sent to every peer again: a peer that was
/// down or disconnected when it came would otherwise never see it (and an idle consortium
/// starts a height only for a transaction it knows of).
const REGOSSIP_AFTER: Duration = Duration::from_secs(1);

/// Binds this org's gossip address (or its local override) and starts the listener and one sender per peer.
pub(crate) async fn start(
    shared: Arc<Shared>,
    me: &OrgEntry,
    listen: &crate::node::ListenAddrs,
    mut outgoing: mpsc::Receiver<Tx>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let listener = TcpListener::bind(listen.gossip.as_deref().unwrap_or(&me.gossip_addr)).await?;
    let mut tasks = vec![tokio::spawn(accept_loop(listener, shared.clone()))];
    let mut peers = Vec::new();
    for org in shared.genesis.orgs.iter().filter(|o| o.id != me.id) {
        let (tx, rx) = mpsc::channel::<Arc<Vec<u8>>>(1024);
        peers.push(tx);
        tasks.push(tokio::spawn(send_loop(org.gossip_addr.clone(), rx)));
    }
    let resend = peers.clone();
    let pending = shared.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(REGOSSIP_AFTER);
        loop {
            tick.tick().await;
            let stale = pending
                .mempool
                .lock()
                .expect("lock")
                .waiting_longer_than(REGOSSIP_AFTER, MAX_BATCH);
            if stale.is_empty() {
                continue;
            }
            debug!(txs = stale.len(), "gossiping pending transactions again");
            let frame = Arc::new(borsh::to_vec(&stale).expect("writing to a Vec cannot fail"));
            for peer in &resend {
                let _ = peer.try_send(frame.clone());
            }
        }
    }));
    tasks.push(tokio::spawn(async move {
        let mut batch = Vec::new();
        while let Some(first) = outgoing.recv().await {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match outgoing.try_recv() {
                    Ok(tx) => batch.push(tx),
                    Err(_) => break,
                }
            }
            let frame = Arc::new(borsh::to_vec(&batch).expect("writing to a Vec cannot fail"));
            batch.clear();
            for peer in &peers {
                // A slow or dead peer loses gossip, not correctness: our own proposals
                // still carry the transaction.
                let _ = peer.try_send(frame.clone());
            }
        }
    }));
    Ok(tasks)
}

/// Accepts peers' connections. The readers live in a set owned by this task, so stopping
/// the node (which aborts this task) closes them too: a reader left running would keep
/// taking a peer's frames for a node that is gone, and the peer, whose writes still
/// succeed, would never reconnect to the node once it is started again.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut readers = tokio::task::JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                while readers.try_join_next().is_some() {}
                readers.spawn(receive(stream, peer, shared.clone()));
            }
            Err(e) => {
                warn!(error = %e, "gossip accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn receive(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_FRAME {
            warn!(%peer, len, "gossip frame too large; closing");
            return;
        }
        let mut buf = vec![0u8; len];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        let Ok(txs) = borsh::from_slice::<Vec<Tx>>(&buf) else {
            warn!(%peer, "malformed gossip frame; closing");
            return;
        };
        // Transactions already pending or committed (gossiped again) are dropped before
        // their signatures are checked.
        let txs: Vec<Tx> = {
            // The same lock order as the proposer's: the replay set, then the mempool.
            let committed = shared.committed.read().expect("lock");
            let mempool = shared.mempool.lock().expect("lock");
            txs.into_iter()
                .filter(|t| {
                    let hash = t.hash();
                    !mempool.contains(&hash) && !committed.contains(&hash)
                })
                .collect()
        };
        let verdicts = crate::tx::check_batch(&txs, &shared.genesis);
        for (tx, verdict) in txs.into_iter().zip(verdicts) {
            if let Err(e) = verdict.and_then(|hash| shared.admit_checked(hash, tx)) {
                debug!(%peer, error = %e, "gossiped transaction refused");
            }
        }
    }
}

async fn send_loop(addr: String, mut frames: mpsc::Receiver<Arc<Vec<u8>>>) {
    let mut conn: Option<TcpStream> = None;
    while let Some(frame) = frames.recv().await {
        if conn.is_none() {
            match TcpStream::connect(&addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    conn = Some(s);
                }
                Err(_) => continue,
            }
        }
        let Some(stream) = conn.as_mut() else {
            continue;
        };
        let len = (frame.len() as u32).to_be_bytes();
        let ok = stream.write_all(&len).await.is_ok() && stream.write_all(&frame).await.is_ok();
        if !ok {
            conn = None;
        }
    }
}

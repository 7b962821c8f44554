//! Wakes long-polling `/sync` requests when something org-local changed (account data,
//! private receipts, typing, presence). Ledger changes wake them through the chain's tip.

use tokio::sync::watch;

/// A change counter that `/sync` waits on.
#[derive(Debug)]
pub struct LocalNotifier {
    tx: watch::Sender<u64>,
}

impl Default for LocalNotifier {
    fn default() -> Self {
        Self {
            tx: watch::channel(0).0,
        }
    }
}

impl LocalNotifier {
    /// Signals a change to every waiting `/sync`.
    pub fn notify(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees the next change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

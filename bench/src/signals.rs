//! Ctrl-C (SIGINT) and SIGTERM for the benchmark itself: it stops its servers before it exits.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Listens for SIGINT and SIGTERM from the moment it is created.
pub struct Interrupt {
    int: Signal,
    term: Signal,
}

impl Interrupt {
    /// Installs the handlers.
    pub fn install() -> anyhow::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves at the next signal (cancel-safe, so it can be raced repeatedly).
    pub async fn received(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

//! The servers under test: started by the benchmark (and stopped by it), or already running at
//! URLs given on the command line.

pub mod consort;
pub mod ports;
pub mod process;
pub mod synapse;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use process::ProcessGroup;

/// Which homeserver implementation a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Consort consortium (the devnet).
    Consort,
    /// A single Synapse.
    Synapse,
}

impl Kind {
    /// The lower-case name used in options and in the JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Consort => "consort",
            Kind::Synapse => "synapse",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the workloads send their requests.
#[derive(Debug, Clone)]
pub struct Target {
    /// The implementation.
    pub kind: Kind,
    /// The node every workload's senders use (Consort: org1).
    pub url: Url,
    /// The node the delivery workload's receiver uses (Consort: org2; Synapse: the same server).
    pub receiver_url: Url,
    /// The server processes this run started, for the memory and storage figures (none
    /// when the target is given by URL).
    pub nodes: Vec<Node>,
}

/// One server process this run started: Consort's node of one organisation, or Synapse.
#[derive(Debug, Clone)]
pub struct Node {
    /// `org1`, ..., or `synapse`.
    pub name: String,
    /// Its process id.
    pub pid: u32,
    /// Its data directory (databases, ledger).
    pub dir: PathBuf,
}

impl Target {
    /// Whether the delivery workload crosses from one node to another.
    pub fn cross_node(&self) -> bool {
        self.url != self.receiver_url
    }
}

/// A server this run started: stopped by [`Started::stop`], or killed when dropped.
pub struct Started {
    group: ProcessGroup,
    signal: &'static str,
    grace: Duration,
    dir: PathBuf,
}

impl Started {
    /// Stops the server's whole process group (graceful signal, then kill after the grace
    /// period) and removes its data directory unless `keep` is set.
    pub async fn stop(mut self, keep: bool) {
        let pid = self.group.pid();
        self.group.stop(self.signal, self.grace).await;
        if keep {
            eprintln!(
                "stopped pid {pid}; its data stays in {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
            eprintln!("stopped pid {pid}");
        }
    }
}

/// Parses a base URL given on the command line.
pub fn parse_url(text: &str) -> anyhow::Result<Url> {
    let url = Url::parse(text).map_err(|e| anyhow::anyhow!("{text}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        anyhow::bail!("{text}: not an http(s) URL");
    }
    Ok(url)
}

/// A fresh directory for one server's data under `root`.
fn server_dir(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

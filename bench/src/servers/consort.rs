//! Starts a local Consort consortium with `consort devnet` and waits for its `READY` line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::ports::free_range;
use super::process::ProcessGroup;
use super::{Kind, Node, Started, Target, parse_url, server_dir};

/// How long the devnet may take to print `READY` (genesis, four nodes, their admins).
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// The `consort` binary to run when none is given: `$CARGO_TARGET_DIR/release/consort`, else
/// `target/release/consort` under the current directory, else `consort` from `PATH`.
pub fn default_binary() -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("release/consort"));
    }
    candidates.push(PathBuf::from("target/release/consort"));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("consort")));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("consort"))
}

/// Runs `consort devnet --orgs ORGS --registration open` on free ports with its data under
/// `root`; the target's senders use org1 and the delivery receiver org2.
pub async fn start(bin: &Path, root: &Path, orgs: u16) -> anyhow::Result<(Started, Target)> {
    if orgs < 2 {
        bail!("the Consort side needs at least 2 organisations");
    }
    let dir = server_dir(root, "consort")?;
    let http_base = free_range(orgs, &[])?;
    let http_ports: Vec<u16> = (http_base..http_base + orgs).collect();
    // Each node's ledger uses two ports.
    let chain_base = free_range(2 * orgs, &http_ports)?;

    let mut command = Command::new(bin);
    command
        .arg("devnet")
        .args(["--orgs", &orgs.to_string()])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--base-port", &http_base.to_string()])
        .args(["--chain-base-port", &chain_base.to_string()])
        .args(["--registration", "open"]);
    let mut group = ProcessGroup::spawn("consort devnet", command, &dir.join("devnet.log"), true)
        .with_context(|| format!("{} (build it with `cargo build --release -p consort-homeserver` or pass --consort-bin)", bin.display()))?;
    eprintln!(
        "consort devnet (pid {}): {orgs} organisations on 127.0.0.1:{http_base}..{}",
        group.pid(),
        http_base + orgs - 1
    );

    let stdout = group.child_mut().stdout.take().context("no stdout pipe")?;
    let mut lines = BufReader::new(stdout).lines();
    // After `READY`, one line per organisation: `<org> <url> <dir>/admin.json pid <pid>`.
    let ready = tokio::time::timeout(READY_TIMEOUT, async {
        let mut nodes = Vec::new();
        let mut ready = false;
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("READY") {
                ready = true;
            } else if ready && let Some(node) = node_line(&line) {
                nodes.push(node);
                if nodes.len() == usize::from(orgs) {
                    return Ok(nodes);
                }
            }
        }
        bail!("the devnet exited before it was ready")
    })
    .await
    .unwrap_or_else(|_| Err(anyhow::anyhow!("no READY within {READY_TIMEOUT:?}")));
    let nodes = match ready {
        Ok(nodes) => nodes,
        Err(e) => {
            let tail = group.log_tail(30);
            group.stop("INT", Duration::from_secs(30)).await;
            return Err(e.context(tail));
        }
    };
    // Keep reading its stdout so that the devnet never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let url = |port: u16| parse_url(&format!("http://127.0.0.1:{port}"));
    let target = Target {
        kind: Kind::Consort,
        url: url(http_base)?,
        receiver_url: url(http_base + 1)?,
        nodes,
    };
    let started = Started {
        group,
        // The devnet stops its nodes on SIGINT (and kills them after 20 s).
        signal: "INT",
        grace: Duration::from_secs(30),
        dir,
    };
    Ok((started, target))
}

/// One of the devnet's per-organisation lines after `READY`.
fn node_line(line: &str) -> Option<Node> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [name, _url, admin, "pid", pid] => Some(Node {
            name: (*name).to_owned(),
            pid: pid.parse().ok()?,
            dir: Path::new(admin).parent()?.to_path_buf(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_devnet_node_lines() {
        let node = node_line("org2 http://127.0.0.1:8009 /d/org2/admin.json pid 4242").unwrap();
        assert_eq!(node.name, "org2");
        assert_eq!(node.pid, 4242);
        assert_eq!(node.dir, PathBuf::from("/d/org2"));
        assert!(node_line("READY 4 organisations").is_none());
    }
}

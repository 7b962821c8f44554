//! Starts a Synapse (PyPI `matrix-synapse`, installed by `bench/synapse/setup.sh`) with a
//! generated configuration: SQLite, 127.0.0.1 only, open registration, no rate limits, no
//! presence, no key servers, no stats reporting.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::process::Command;

use super::ports::free_port;
use super::process::ProcessGroup;
use super::{Kind, Node, Started, Target, parse_url, server_dir};

/// The server name of the benchmark's Synapse.
const SERVER_NAME: &str = "synapse.localhost";
/// How long Synapse may take to answer `/versions` (first start creates its database).
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// `$HOME/.cache/consort-bench/synapse-venv`, where `setup.sh` installs by default.
pub fn default_venv() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/consort-bench/synapse-venv")
}

/// Generates a configuration under `root` and starts Synapse from `venv` on a free port.
pub async fn start(venv: &Path, root: &Path) -> anyhow::Result<(Started, Target)> {
    let python = venv.join("bin/python");
    if !python.is_file() {
        bail!(
            "no Synapse virtual environment at {}: run `bench/synapse/setup.sh [DIR]` first \
             (and pass --synapse-venv DIR for a directory other than the default)",
            venv.display()
        );
    }
    let dir = server_dir(root, "synapse")?;
    let port = free_port()?;
    generate_config(&python, &dir).await?;
    std::fs::write(
        dir.join("bench.yaml"),
        serde_json::to_string_pretty(&overrides(&dir, port))?,
    )?;

    let mut command = Command::new(&python);
    command
        .args(["-m", "synapse.app.homeserver", "--config-path"])
        .arg(dir.join("homeserver.yaml"))
        .arg("--config-path")
        .arg(dir.join("bench.yaml"))
        .current_dir(&dir);
    let mut group = ProcessGroup::spawn("synapse", command, &dir.join("stdio.log"), false)?;
    eprintln!("synapse (pid {}) on 127.0.0.1:{port}", group.pid());
    let url = parse_url(&format!("http://127.0.0.1:{port}"))?;

    if let Err(e) = wait_ready(&mut group, &url).await {
        let tail = group.log_tail(30);
        group.stop("TERM", Duration::from_secs(20)).await;
        return Err(e.context(tail));
    }
    let target = Target {
        kind: Kind::Synapse,
        url: url.clone(),
        receiver_url: url,
        nodes: vec![Node {
            name: "synapse".to_owned(),
            pid: group.pid(),
            dir: dir.clone(),
        }],
    };
    let started = Started {
        group,
        signal: "TERM",
        grace: Duration::from_secs(20),
        dir,
    };
    Ok((started, target))
}

/// Synapse's own `--generate-config`: signing key, secrets, log configuration (INFO to
/// `homeserver.log`, as in a default installation) and a base `homeserver.yaml`.
async fn generate_config(python: &Path, dir: &Path) -> anyhow::Result<()> {
    let output = Command::new(python)
        .args(["-m", "synapse.app.homeserver", "--server-name", SERVER_NAME])
        .arg("--config-path")
        .arg(dir.join("homeserver.yaml"))
        .arg("--data-directory")
        .arg(dir)
        .args(["--generate-config", "--report-stats=no"])
        .current_dir(dir)
        .kill_on_drop(true)
        .output()
        .await
        .context("running Synapse's --generate-config")?;
    if !output.status.success() {
        bail!(
            "Synapse's --generate-config failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The settings layered over the generated file (Synapse merges later `--config-path` files
/// over earlier ones, key by key). JSON is valid YAML.
fn overrides(dir: &Path, port: u16) -> Value {
    let unlimited = json!({"per_second": 1_000_000, "burst_count": 1_000_000});
    json!({
        "listeners": [{
            "port": port,
            "bind_addresses": ["127.0.0.1"],
            "type": "http",
            "tls": false,
            "x_forwarded": false,
            "resources": [{"names": ["client"], "compress": false}],
        }],
        "database": {
            "name": "sqlite3",
            "args": {"database": dir.join("homeserver.db")},
        },
        "enable_registration": true,
        "enable_registration_without_verification": true,
        "trusted_key_servers": [],
        "suppress_key_server_warning": true,
        "report_stats": false,
        "presence": {"enabled": false},
        "url_preview_enabled": false,
        "enable_metrics": false,
        "rc_message": unlimited,
        "rc_registration": unlimited,
        "rc_registration_token_validity": unlimited,
        "rc_login": {"address": unlimited, "account": unlimited, "failed_attempts": unlimited},
        "rc_admin_redaction": unlimited,
        "rc_joins": {"local": unlimited, "remote": unlimited},
        "rc_joins_per_room": unlimited,
        "rc_key_requests": unlimited,
        "rc_3pid_validation": unlimited,
        "rc_invites": {"per_room": unlimited, "per_user": unlimited, "per_issuer": unlimited},
        "rc_third_party_invite": unlimited,
        "rc_media_create": unlimited,
        "rc_presence": {"per_user": unlimited},
        "rc_delayed_event_mgmt": unlimited,
        "rc_room_creation": unlimited,
        "rc_reports": unlimited,
        "rc_user_directory": unlimited,
        "rc_profile": unlimited,
        "rc_federation": {
            "window_size": 1000,
            "sleep_limit": 1_000_000,
            "sleep_delay": 0,
            "reject_limit": 1_000_000,
            "concurrent": 1_000_000,
        },
        "federation_rr_transactions_per_room_per_second": 1_000_000,
    })
}

/// Polls `/_matrix/client/versions` until it answers 200, or the process exits, or time runs out.
async fn wait_ready(group: &mut ProcessGroup, url: &reqwest::Url) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let versions = url.join("_matrix/client/versions")?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = group.exited() {
            bail!("synapse exited ({status}) before it was ready");
        }
        let ok = http
            .get(versions.clone())
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("synapse did not answer /versions within {READY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rate_limit_is_raised_and_only_loopback_is_bound() {
        let config = overrides(Path::new("data"), 1234);
        let listener = &config["listeners"][0];
        assert_eq!(listener["bind_addresses"], json!(["127.0.0.1"]));
        assert_eq!(listener["port"], 1234);
        let limits: Vec<_> = config
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("rc_") && *k != "rc_federation")
            .collect();
        assert!(limits.len() >= 18);
        for (key, value) in limits {
            let leaves: Vec<&Value> = if value.get("per_second").is_some() {
                vec![value]
            } else {
                value.as_object().unwrap().values().collect()
            };
            for leaf in leaves {
                assert!(leaf["per_second"].as_f64().unwrap() >= 1e6, "{key}");
                assert!(leaf["burst_count"].as_f64().unwrap() >= 1e6, "{key}");
            }
        }
        assert_eq!(config["presence"]["enabled"], false);
        assert_eq!(config["trusted_key_servers"], json!([]));
    }
}

//! `consort devnet`: a complete local consortium on 127.0.0.1 in one command. Each
//! organisation's node runs as its own `consort serve` process with everything it persists
//! (database, WAL, keys, log, admin credentials) under `DATA_DIR/orgK/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use consort_chain::Genesis;
use consort_chain::local::{init_dir_with_app, local_ports};
use tokio::process::{Child, Command};

use super::genesis_policy::{GenesisPolicy, local_org_ids};
use crate::admin_client::{AdminCredentials, register_admin};
use crate::config::{Config, RateLimit, RateLimits, RegistrationMode};

/// Options of `consort devnet`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Number of organisations.
    #[arg(long, default_value_t = 4)]
    pub orgs: usize,
    /// Where every node keeps its data (re-running on the same directory resumes the chain).
    #[arg(long, default_value = "devnet")]
    pub data_dir: PathBuf,
    /// Org K's homeserver listens on 127.0.0.1:(base-port + K - 1).
    #[arg(long, default_value_t = 8008)]
    pub base_port: u16,
    /// Ledger ports: org K uses chain-base-port + 2(K-1) and the next one.
    #[arg(long, default_value_t = 26600)]
    pub chain_base_port: u16,
    /// Registration mode of every node: open, approval or closed.
    #[arg(long, default_value = "approval")]
    pub registration: String,
    /// Consortium-wide settings (used when the devnet is created).
    #[command(flatten)]
    pub policy: GenesisPolicy,
}

struct Org {
    id: String,
    dir: PathBuf,
    url: String,
    secret: String,
}

/// Runs the devnet until Ctrl-C.
pub async fn run(args: DevnetArgs) -> anyhow::Result<()> {
    let registration: RegistrationMode = args
        .registration
        .parse()
        .map_err(|e| anyhow::anyhow!("--registration: {e}"))?;
    let dir = std::path::absolute(&args.data_dir)?;
    let genesis = prepare_chain(&dir, &args)?;
    // Every node fetches media blocks from the others' gateways.
    let urls: BTreeMap<String, String> = genesis
        .orgs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            (
                o.id.clone(),
                format!("http://127.0.0.1:{}", usize::from(args.base_port) + i),
            )
        })
        .collect();
    let orgs = genesis
        .orgs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let peers = urls
                .iter()
                .filter(|(id, _)| **id != o.id)
                .map(|(id, url)| (id.clone(), url.clone()))
                .collect();
            write_config(&dir, i, (&o.id, &o.server_name), peers, &args, registration)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let exe = std::env::current_exe().context("locating the consort binary")?;
    let mut children = Vec::new();
    for org in &orgs {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(org.dir.join("node.log"))?;
        let mut command = Command::new(&exe);
        if std::env::var_os(crate::memory::PURGE_DELAY_ENV).is_none() {
            command.env(
                crate::memory::PURGE_DELAY_ENV,
                crate::memory::PURGE_DELAY_MS,
            );
        }
        let child = command
            .arg("serve")
            .arg("--config")
            .arg(org.dir.join("homeserver.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", org.id))?;
        children.push(child);
    }

    let result = tokio::select! {
        r = bring_up(&orgs) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted while starting")),
        e = first_exit(&mut children) => Err(e),
    };
    if let Err(e) = result {
        stop(&mut children).await;
        return Err(e);
    }
    out!("READY {} organisations", orgs.len());
    for (org, child) in orgs.iter().zip(&children) {
        out!(
            "{} {} {} pid {}",
            org.id,
            org.url,
            org.dir.join("admin.json").display(),
            child.id().unwrap_or_default()
        );
    }
    // A node that exits leaves the others running, as a consortium survives a member's
    // failure: the devnet says which, and how to start it again.
    let mut exited = vec![false; children.len()];
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            (i, status) = next_exit(&mut children, &exited) => {
                exited[i] = true;
                let org = &orgs[i];
                let running = exited.iter().filter(|e| !**e).count();
                eprintln!(
                    "{} exited ({status}); {running} of {} organisations keep running. Start it again with:\n  {} serve --config {}",
                    org.id,
                    orgs.len(),
                    exe.display(),
                    org.dir.join("homeserver.toml").display()
                );
                if running == 0 {
                    eprintln!("every node has exited; stopping the devnet");
                    break;
                }
            }
        }
    }
    stop(&mut children).await;
    Ok(())
}

/// Resolves when a child not yet known to have exited exits: its index and status.
async fn next_exit(children: &mut [Child], exited: &[bool]) -> (usize, std::process::ExitStatus) {
    loop {
        for (i, child) in children.iter_mut().enumerate() {
            if exited[i] {
                continue;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return (i, status);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn prepare_chain(dir: &Path, args: &DevnetArgs) -> anyhow::Result<Genesis> {
    if dir.join("genesis.json").exists() {
        let genesis = Genesis::load(&dir.join("genesis.json"))?;
        if genesis.orgs.len() != args.orgs {
            bail!(
                "{} holds a consortium of {} organisations, not {}",
                dir.display(),
                genesis.orgs.len(),
                args.orgs
            );
        }
        Ok(genesis)
    } else {
        let ports = local_ports(args.orgs, args.chain_base_port).map_err(anyhow::Error::msg)?;
        init_dir_with_app(
            dir,
            &ports,
            "consort-devnet",
            args.policy.app(local_org_ids(ports.len())),
        )
        .map_err(anyhow::Error::msg)
    }
}

fn write_config(
    dir: &Path,
    index: usize,
    (id, server_name): (&str, &str),
    peers: BTreeMap<String, String>,
    args: &DevnetArgs,
    registration: RegistrationMode,
) -> anyhow::Result<Org> {
    let org_dir = dir.join(id);
    let path = org_dir.join("homeserver.toml");
    let mut config = if path.exists() {
        toml::from_str::<Config>(&std::fs::read_to_string(&path)?)
            .with_context(|| format!("{}", path.display()))?
    } else {
        // Relaxed limits: a benchmark registers dozens of users and sends from many clients
        // on one address.
        let relaxed = RateLimit {
            per_second: 1000.0,
            burst: 10_000,
        };
        Config {
            server_name: server_name.to_owned(),
            data_dir: org_dir.display().to_string(),
            chain_dir: Some(org_dir.display().to_string()),
            registration_shared_secret: Some(hex::encode(rand::random::<[u8; 32]>())),
            rate_limits: RateLimits {
                login: relaxed,
                register: relaxed,
            },
            ..Config::default()
        }
    };
    let port = args
        .base_port
        .checked_add(index as u16)
        .context("--base-port too high")?;
    config.listen = ([127, 0, 0, 1], port).into();
    config.registration = registration;
    config.media.peers = peers;
    // A local consortium's push gateway (e.g. a developer's) runs on this machine.
    if !config
        .ip_range_whitelist
        .iter()
        .any(|r| r == "127.0.0.1/32")
    {
        config.ip_range_whitelist.push("127.0.0.1/32".to_owned());
    }
    std::fs::write(&path, toml::to_string(&config)?)?;
    Ok(Org {
        id: id.to_owned(),
        dir: org_dir,
        url: format!("http://127.0.0.1:{port}"),
        secret: config
            .registration_shared_secret
            .context("the devnet config has no shared secret")?,
    })
}

/// Waits for every node's `/versions`, then makes sure each has an admin in `admin.json`.
async fn bring_up(orgs: &[Org]) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    for org in orgs {
        loop {
            let ok = http
                .get(format!("{}/_matrix/client/versions", org.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not answer /versions (see {})",
                    org.id,
                    org.dir.join("node.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for org in orgs {
        ensure_admin(&http, org).await?;
    }
    Ok(())
}

async fn ensure_admin(http: &reqwest::Client, org: &Org) -> anyhow::Result<()> {
    let path = org.dir.join("admin.json");
    if let Ok(bytes) = std::fs::read(&path) {
        let mut admin: AdminCredentials = serde_json::from_slice(&bytes)?;
        let whoami = http
            .get(format!("{}/_matrix/client/v3/account/whoami", org.url))
            .bearer_auth(&admin.access_token)
            .send()
            .await?;
        if whoami.status().is_success() {
            return Ok(());
        }
        let login: serde_json::Value = http
            .post(format!("{}/_matrix/client/v3/login", org.url))
            .json(&serde_json::json!({
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": admin.user_id},
                "password": admin.password,
            }))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("logging in {}'s admin", org.id))?
            .json()
            .await?;
        admin.access_token = login["access_token"]
            .as_str()
            .context("login answered without an access token")?
            .to_owned();
        std::fs::write(&path, serde_json::to_vec_pretty(&admin)?)?;
        return Ok(());
    }
    let admin = register_admin(http, &org.url, &org.secret, "admin").await?;
    std::fs::write(&path, serde_json::to_vec_pretty(&admin)?)?;
    Ok(())
}

/// Resolves when any child exits, describing which.
async fn first_exit(children: &mut [Child]) -> anyhow::Error {
    loop {
        for (i, child) in children.iter_mut().enumerate() {
            if let Ok(Some(status)) = child.try_wait() {
                return anyhow::anyhow!("org{} exited ({status})", i + 1);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asks every node to stop (SIGINT), then kills what is still running after 20 s.
async fn stop(children: &mut [Child]) {
    for child in children.iter() {
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGINT,
            );
        }
    }
    for child in children.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}

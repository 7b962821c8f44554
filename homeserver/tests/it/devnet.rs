//! `consort devnet` as a user runs it: one command brings up four organisations, prints READY
//! and the URLs, writes each admin's credentials, stops cleanly on SIGINT to its process
//! group, and resumes the same chain when run again on the same directory.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::client::{User, enc};

fn free_port_block(n: u16) -> u16 {
    // A block of n consecutive free ports (bound, then released).
    loop {
        let base = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if base > 60_000 {
            continue;
        }
        let all_free = (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return base;
        }
    }
}

async fn start(dir: &Path, base: u16, chain_base: u16) -> (Child, Vec<String>) {
    let (child, urls, _) = start_with_pids(dir, base, chain_base).await;
    (child, urls)
}

/// `start`, also returning each node's PID from the READY lines.
async fn start_with_pids(dir: &Path, base: u16, chain_base: u16) -> (Child, Vec<String>, Vec<i32>) {
    // The devnet's own log goes to a file, shown when it exits before READY.
    let log_path = dir.join("devnet-stderr.log");
    let log = std::fs::File::create(&log_path).expect("devnet log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_consort"))
        .args(["devnet", "--orgs", "4", "--registration", "approval"])
        .arg("--data-dir")
        .arg(dir)
        .args(["--base-port", &base.to_string()])
        .args(["--chain-base-port", &chain_base.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("consort devnet starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(180), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("READY") {
                let mut urls = Vec::new();
                let mut pids = Vec::new();
                for _ in 0..4 {
                    let l = lines.next_line().await.unwrap().unwrap();
                    urls.push(l.split_whitespace().nth(1).unwrap().to_owned());
                    pids.push(l.split_whitespace().last().unwrap().parse().unwrap());
                }
                return (urls, pids);
            }
        }
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect::<Vec<_>>();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "devnet exited before READY; its last log lines:\n{}",
            tail.join("\n")
        );
    })
    .await
    .expect("READY within 180 s");
    (child, ready.0, ready.1)
}

async fn stop(mut child: Child) {
    let pgid = Pid::from_raw(child.id().unwrap() as i32);
    killpg(pgid, Signal::SIGINT).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("devnet stops within 60 s of SIGINT")
        .unwrap();
    assert!(status.success(), "clean exit: {status}");
    // No node of the group is left running.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        killpg(pgid, None).is_err(),
        "every process of the devnet's group has exited"
    );
}

async fn assert_token_works(http: &reqwest::Client, url: &str, admin: &Value) {
    let r = http
        .get(format!("{url}/_matrix/client/v3/account/whoami"))
        .bearer_auth(admin["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "admin.json holds a working token");
}

/// The committed height `consort chain status` reads from an org's database.
async fn status_height(org_dir: &Path) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_consort"))
        .args(["chain", "status", "--dir"])
        .arg(org_dir)
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("height"))
        .expect("a height line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_starts_stops_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let base = free_port_block(4);
    let chain_base = free_port_block(8);
    let http = reqwest::Client::new();

    let (child, urls) = start(dir.path(), base, chain_base).await;
    assert_eq!(urls[0], format!("http://127.0.0.1:{base}"));
    for (k, url) in urls.iter().enumerate() {
        let org = dir.path().join(format!("org{}", k + 1));
        let admin: Value =
            serde_json::from_slice(&std::fs::read(org.join("admin.json")).unwrap()).unwrap();
        assert_eq!(admin["user_id"], format!("@admin:org{}.localhost", k + 1));
        let versions = http
            .get(format!("{url}/_matrix/client/versions"))
            .send()
            .await
            .unwrap();
        assert!(versions.status().is_success());
        assert_token_works(&http, url, &admin).await;
        for file in [
            "consort.db",
            "keys.json",
            "genesis.json",
            "node.log",
            "homeserver.toml",
        ] {
            assert!(org.join(file).exists(), "{file} lives under org{}", k + 1);
        }
    }
    // A user registered on org2 and approved there is known to org4 through the ledger.
    let reg: Value = http
        .post(format!("{}/_matrix/client/v3/register", urls[1]))
        .json(&serde_json::json!({"username": "dora", "password": "pw-dora-1", "auth": {"type": "m.login.dummy"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reg["errcode"], "M_USER_AWAITING_APPROVAL");
    let admin2: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("org2/admin.json")).unwrap())
            .unwrap();
    let approve = http
        .put(format!(
            "{}/_synapse/admin/v2/users/@dora:org2.localhost",
            urls[1]
        ))
        .bearer_auth(admin2["access_token"].as_str().unwrap())
        .json(&serde_json::json!({"approved": true}))
        .send()
        .await
        .unwrap();
    assert!(approve.status().is_success());

    // The operator commands go through the running node, so their effects are on the ledger.
    let pending: Value = http
        .post(format!("{}/_matrix/client/v3/register", urls[2]))
        .json(&serde_json::json!({"username": "erin", "password": "pw-erin-1", "auth": {"type": "m.login.dummy"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending["errcode"], "M_USER_AWAITING_APPROVAL");
    let config3 = dir.path().join("org3/homeserver.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_consort"))
        .args(["admin", "approve", "--config"])
        .arg(&config3)
        .arg("erin")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config4 = dir.path().join("org4/homeserver.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_consort"))
        .args(["admin", "create-user", "--config"])
        .arg(&config4)
        .args(["frank", "--password", "pw-frank-1"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admin1: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("org1/admin.json")).unwrap())
            .unwrap();
    for user in ["@erin:org3.localhost", "@frank:org4.localhost"] {
        let r = http
            .get(format!("{}/_matrix/client/v3/profile/{user}", urls[0]))
            .bearer_auth(admin1["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "org1 sees {user} through the ledger"
        );
    }
    let list = Command::new(env!("CARGO_BIN_EXE_consort"))
        .args(["admin", "list-users", "--pending", "--config"])
        .arg(&config3)
        .output()
        .await
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains("erin"),
        "erin is no longer pending"
    );
    stop(child).await;

    let before = std::fs::read(dir.path().join("org1/admin.json")).unwrap();
    let genesis = std::fs::read(dir.path().join("genesis.json")).unwrap();
    let height = status_height(&dir.path().join("org1")).await;
    assert!(height > 0, "blocks were committed");
    // Run again on the same directory: same chain, same accounts.
    let (child, urls) = start(dir.path(), base, chain_base).await;
    assert_eq!(
        std::fs::read(dir.path().join("org1/admin.json")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read(dir.path().join("genesis.json")).unwrap(),
        genesis
    );
    assert!(
        status_height(&dir.path().join("org1")).await >= height,
        "the chain resumes"
    );
    let login = http
        .post(format!("{}/_matrix/client/v3/login", urls[1]))
        .json(&serde_json::json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "dora"}, "password": "pw-dora-1"}))
        .send()
        .await
        .unwrap();
    assert!(
        login.status().is_success(),
        "the approved account survives a restart"
    );
    let admin4: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("org4/admin.json")).unwrap())
            .unwrap();
    let profile: Value = http
        .get(format!(
            "{}/_matrix/client/v3/profile/@dora:org2.localhost",
            urls[3]
        ))
        .bearer_auth(admin4["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile["displayname"], "dora");
    stop(child).await;
}

/// `consort chain init --plaintext-in-encrypted-rooms refuse --contacts-policy open` writes the policies into every
/// organisation's genesis; the default writes none, and a bad value is refused by clap.
#[tokio::test]
async fn chain_init_writes_the_policies_into_the_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let init = |sub: &str, extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_consort"));
        cmd.args(["chain", "init", "--orgs", "2", "--dir"])
            .arg(dir.path().join(sub))
            .args(extra);
        cmd
    };
    let out = init(
        "strict",
        &[
            "--plaintext-in-encrypted-rooms",
            "refuse",
            "--contacts-policy",
            "open",
        ],
    )
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for org in ["org1", "org2"] {
        let genesis: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("strict").join(org).join("genesis.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(genesis["app"]["plaintext_in_encrypted_rooms"], "refuse");
        assert_eq!(genesis["app"]["contacts_policy.org1"], "open");
        assert_eq!(genesis["app"]["contacts_policy.org2"], "open");
    }
    let out = init("default", &[]).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let genesis: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("default/genesis.json")).unwrap())
            .unwrap();
    assert!(
        genesis["app"].get("plaintext_in_encrypted_rooms").is_none(),
        "{genesis}"
    );
    let out = init("bad", &["--plaintext-in-encrypted-rooms", "sometimes"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        !dir.path().join("bad").exists(),
        "nothing written for a bad value"
    );
}

/// Killing one organisation's node, as a user would to watch the consortium survive it: the
/// devnet says which exited and how to start it again, and the other three go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_keeps_going_when_a_node_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let base = free_port_block(4);
    let chain_base = free_port_block(8);
    let (child, urls, pids) = start_with_pids(dir.path(), base, chain_base).await;
    nix::sys::signal::kill(Pid::from_raw(pids[2]), Signal::SIGKILL).unwrap();
    let log_path = dir.path().join("devnet-stderr.log");
    let mut said = String::new();
    for _ in 0..100 {
        said = std::fs::read_to_string(&log_path).unwrap_or_default();
        if said.contains("org3 exited") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(said.contains("org3 exited"), "{said}");
    assert!(
        said.contains("serve --config") && said.contains("org3/homeserver.toml"),
        "{said}"
    );

    // A message sent on org1 reaches org2 with org3 down.
    let admin = |k: usize| -> User {
        let a: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("org{k}/admin.json"))).unwrap(),
        )
        .unwrap();
        User::with_token(
            &urls[k - 1],
            a["user_id"].as_str().unwrap(),
            a["access_token"].as_str().unwrap(),
        )
    };
    let (a1, a2) = (admin(1), admin(2));
    let room = a1
        .create_room(serde_json::json!({"preset": "public_chat"}))
        .await;
    let mut joined = false;
    for _ in 0..100 {
        if a2.join(&room).await.0.is_success() {
            joined = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(joined, "org2's admin joins org1's room");
    let event = a1.send(&room, "org3 is down").await;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/event/{}",
        enc(&room),
        enc(&event)
    );
    let mut seen = false;
    for _ in 0..100 {
        if a2
            .call(reqwest::Method::GET, &path, None)
            .await
            .0
            .is_success()
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the message reached org2");

    // The others keep trying to reach org3, quietly: one WARN line per unreachable peer a
    // minute, not the consensus network's ERROR line per dial attempt.
    let lines = |k: usize| {
        std::fs::read_to_string(dir.path().join(format!("org{k}/node.log")))
            .unwrap_or_default()
            .lines()
            .count()
    };
    // The first report is due within the reporter's 5 s tick of the first failure.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let before = [lines(1), lines(2), lines(4)];
    tokio::time::sleep(Duration::from_secs(30)).await;
    let after = [lines(1), lines(2), lines(4)];
    for (k, (b, a)) in [1, 2, 4].into_iter().zip(before.into_iter().zip(after)) {
        let log = std::fs::read_to_string(dir.path().join(format!("org{k}/node.log"))).unwrap();
        assert!(
            a - b <= 3,
            "org{k}'s log grew by {} lines in 30 s with org3 down:\n{log}",
            a - b
        );
        assert!(
            log.contains("cannot reach a peer of the consortium"),
            "org{k} does not say it cannot reach org3:\n{log}"
        );
        assert!(
            !log.lines()
                .any(|l| l.contains("ERROR") && l.contains("dial")),
            "org{k} logs dial failures as errors:\n{log}"
        );
    }
    stop(child).await;
}

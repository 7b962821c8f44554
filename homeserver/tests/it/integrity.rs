//! Ledger integrity across a real consortium: a node whose projection was edited finds out
//! at the next height and halts while the others go on; `consort verify` proves every node's
//! state from its blocks and names the first difference after tampering; event proofs fetched
//! from one organisation verify offline, and fail with any byte changed; an idle consortium
//! adds no empty heights.

use std::time::Duration;

use consort_bridge::verify::{VerifyError, verify};
use consort_chain::Genesis;
use consort_chain::engine::context::ConsortContext;
use consort_chain::store::connect_and_migrate;
use consort_homeserver::config::RegistrationMode;
use consort_homeserver::services::event_proof;
use consort_homeserver::testing::{Consortium, Db};
use malachitebft_core_types::CommitCertificate;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{AnyPool, Row};

use crate::client::{User, enc, register};

/// The node's ledger status (`GET /_consort/v1/ledger/status`).
async fn ledger_status(base: &str) -> Value {
    reqwest::get(format!("{base}/_consort/v1/ledger/status"))
        .await
        .expect("status request")
        .json()
        .await
        .expect("status answer")
}

/// Waits until every listed node has applied at least `height`.
async fn applied_everywhere(c: &Consortium, orgs: &[usize], height: u64) {
    for &k in orgs {
        let mut applied = c.org(k).node.state.chain().unwrap().watch_applied();
        tokio::time::timeout(Duration::from_secs(30), applied.wait_for(|h| *h >= height))
            .await
            .unwrap_or_else(|_| panic!("org{k} applies height {height}"))
            .unwrap();
    }
}

fn height_of(c: &Consortium, k: usize) -> u64 {
    c.org(k).node.state.chain().unwrap().applied_height()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edited_projection_halts_its_node_and_the_others_go_on() {
    let c = Consortium::start(4, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let carol = register(&c.org(3).base_url, "carol").await;
    let room = alice
        .create_room(json!({"preset": "public_chat", "name": "audit"}))
        .await;
    alice.send(&room, "before the edit").await;
    applied_everywhere(&c, &[1, 2, 3, 4], height_of(&c, 1)).await;
    let status = ledger_status(&c.org(2).base_url).await;
    assert_eq!(status["consensus"]["state"], "running", "{status}");

    // A hand edit of org2's database: alice is deactivated there, nowhere else.
    sqlx::query("UPDATE bridge_users SET deactivated = 1 WHERE user_id = $1")
        .bind(&alice.user_id)
        .execute(c.org(2).node.state.chain().unwrap().pool())
        .await
        .unwrap();
    // org2 now rejects alice's next message where the others accept it: its app hash after
    // that block differs, and the block after says so.
    alice.send(&room, "org2 rejects this one").await;
    alice
        .send(&room, "the next block shows the divergence")
        .await;
    let mut halted = Value::Null;
    for _ in 0..200 {
        halted = ledger_status(&c.org(2).base_url).await;
        if halted["consensus"]["state"] == "halted" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(halted["consensus"]["state"], "halted", "{halted}");
    let reason = halted["consensus"]["reason"].as_str().unwrap();
    assert!(reason.contains("app hash"), "{reason}");
    let stopped_at = halted["applied_height"].as_u64().unwrap();

    // It takes no writes: a registration on org2 is refused, nothing half-written.
    let refused = reqwest::Client::new()
        .post(format!("{}/_matrix/client/v3/register", c.org(2).base_url))
        .json(&json!({"username": "dave", "password": "pw-dave-1", "auth": {"type": "m.login.dummy"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Reads still answer.
    assert_eq!(
        ledger_status(&c.org(2).base_url).await["applied_height"],
        stopped_at
    );

    // The other three decide and apply without it.
    let (status, body) = carol.join(&room).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let last = alice.send(&room, "after the halt").await;
    let seen = carol
        .sync_until(None, 10, |v| {
            v["rooms"]["join"][&room]["timeline"]["events"]
                .as_array()
                .is_some_and(|evs| evs.iter().any(|e| e["event_id"] == json!(last)))
        })
        .await;
    assert!(!seen.is_null());
    assert!(height_of(&c, 1) > stopped_at + 1, "the consortium went on");
    assert_eq!(
        ledger_status(&c.org(2).base_url).await["applied_height"],
        stopped_at,
        "the halted node applied nothing more"
    );
    c.shutdown().await;
}

/// A fresh scratch database for a replay.
async fn scratch() -> (tempfile::TempDir, AnyPool) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("replay.db").display()
    );
    let pool = connect_and_migrate(&url).await.unwrap();
    (dir, pool)
}

async fn verify_node(pool: &AnyPool, genesis: &Genesis) -> Result<(), VerifyError> {
    let (_dir, scratch) = scratch().await;
    verify(pool, &scratch, genesis, &mut |_, _| {})
        .await
        .map(|_| ())
}

/// Accounts, a room with state, messages, a redaction and a profile change: every kind of
/// record a projection holds.
async fn mixed_workload(c: &Consortium) -> (User, User, String, String) {
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let room = alice
        .create_room(json!({"preset": "public_chat", "name": "ledger", "topic": "audit"}))
        .await;
    applied_everywhere(c, &[2], height_of(c, 1)).await;
    let (status, body) = bob.join(&room).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = alice.send(&room, "first").await;
    let gone = bob.send(&room, "to be redacted").await;
    bob.call(
        Method::PUT,
        &format!(
            "/_matrix/client/v3/rooms/{}/redact/{}/r1",
            enc(&room),
            enc(&gone)
        ),
        Some(json!({"reason": "test"})),
    )
    .await;
    alice
        .ok(
            Method::PUT,
            &format!(
                "/_matrix/client/v3/profile/{}/displayname",
                enc(&alice.user_id)
            ),
            Some(json!({"displayname": "Alice A."})),
        )
        .await;
    alice.send(&room, "last").await;
    (alice, bob, room, first)
}

async fn verify_passes_and_catches_tampering(db: Db) {
    let mut c = Consortium::start(4, db, RegistrationMode::Open).await;
    let (_, _, _, first) = mixed_workload(&c).await;
    let tip = height_of(&c, 1);
    applied_everywhere(&c, &[1, 2, 3, 4], tip).await;
    let genesis = c.org(1).node.chain.as_ref().unwrap().genesis().clone();
    let urls: Vec<String> = c.orgs.iter().map(|o| o.config.database_url()).collect();
    for k in 1..=4 {
        c.kill(k).await;
    }
    for (k, url) in urls.iter().enumerate() {
        let pool = connect_and_migrate(url).await.unwrap();
        verify_node(&pool, &genesis)
            .await
            .unwrap_or_else(|e| panic!("org{} verifies: {e}", k + 1));
        pool.close().await;
    }

    let pool = connect_and_migrate(&urls[0]).await.unwrap();
    // The block that carried the first message, and its stored bytes.
    let row = sqlx::query("SELECT height, idx FROM bridge_room_events WHERE event_id = $1")
        .bind(&first)
        .fetch_one(&pool)
        .await
        .unwrap();
    let height: i64 = row.try_get(0).unwrap();
    let (block, cert): (Vec<u8>, Vec<u8>) = {
        let r = sqlx::query("SELECT block, certificate FROM chain_blocks WHERE height = $1")
            .bind(height)
            .fetch_one(&pool)
            .await
            .unwrap();
        (r.try_get(0).unwrap(), r.try_get(1).unwrap())
    };
    let set_block = |bytes: Vec<u8>| {
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE chain_blocks SET block = $1 WHERE height = $2")
                .bind(bytes)
                .bind(height)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    // The block holds the message's transaction but not its PDU, which bridge_room_events
    // keeps: the ledger stores each room event once.
    let pdu: String = sqlx::query_scalar("SELECT json FROM bridge_room_events WHERE event_id = $1")
        .bind(&first)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        !block.windows(pdu.len()).any(|w| w == pdu.as_bytes()),
        "the stored block holds the PDU again"
    );
    let kept: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT kept FROM chain_blocks WHERE height = $1")
            .bind(height)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(kept.is_some(), "the block records which payloads are kept");
    let names_height = |e: VerifyError| {
        let text = e.to_string();
        assert!(text.contains(&format!("height {height}")), "{text}");
    };

    // One byte flipped in the stored block.
    let mut flipped = block.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    set_block(flipped).await;
    names_height(verify_node(&pool, &genesis).await.unwrap_err());
    set_block(block.clone()).await;

    // A transaction removed from it (the header left as it was).
    let mut decoded = consort_chain::Block::decode(&block).unwrap();
    decoded.txs.remove(0);
    set_block(decoded.encode()).await;
    names_height(verify_node(&pool, &genesis).await.unwrap_err());
    set_block(block.clone()).await;

    // Its certificate with signatures removed, down to less than the quorum.
    let mut certificate: CommitCertificate<ConsortContext> = borsh::from_slice(&cert).unwrap();
    certificate.commit_signatures.truncate(2);
    sqlx::query("UPDATE chain_blocks SET certificate = $1 WHERE height = $2")
        .bind(borsh::to_vec(&certificate).unwrap())
        .bind(height)
        .execute(&pool)
        .await
        .unwrap();
    let e = verify_node(&pool, &genesis).await.unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
    names_height(e);
    sqlx::query("UPDATE chain_blocks SET certificate = $1 WHERE height = $2")
        .bind(cert.clone())
        .bind(height)
        .execute(&pool)
        .await
        .unwrap();

    // A projection row edited.
    let json: String = sqlx::query("SELECT json FROM bridge_room_events WHERE event_id = $1")
        .bind(&first)
        .fetch_one(&pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    sqlx::query("UPDATE bridge_room_events SET json = $1 WHERE event_id = $2")
        .bind(json.replace("first", "forged"))
        .bind(&first)
        .execute(&pool)
        .await
        .unwrap();
    // The message's block keeps no copy of the PDU (bridge_room_events holds it), so the
    // edit shows as a payload the block's Merkle root does not cover.
    let e = verify_node(&pool, &genesis).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("bridge_room_events") && text.contains("is not the one committed"),
        "{text}"
    );
    names_height(e);
    sqlx::query("UPDATE bridge_room_events SET json = $1 WHERE event_id = $2")
        .bind(&json)
        .bind(&first)
        .execute(&pool)
        .await
        .unwrap();

    // A projection one block ahead of the stored chain (a crash between applying a block
    // and storing it) is told apart from tampering.
    let tip: i64 = sqlx::query_scalar("SELECT MAX(height) FROM chain_blocks")
        .fetch_one(&pool)
        .await
        .unwrap();
    let set_applied = |h: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE bridge_state SET applied_height = $1 WHERE id = 1")
                .bind(h)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    set_applied(tip + 1).await;
    let e = verify_node(&pool, &genesis).await.unwrap_err();
    assert!(
        matches!(e, VerifyError::AheadOfChain { applied, tip: t } if applied == t + 1 && t == tip as u64),
        "{e}"
    );
    set_applied(tip).await;
    verify_node(&pool, &genesis)
        .await
        .expect("restored, it verifies again");
    pool.close().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_passes_and_catches_tampering_sqlite() {
    verify_passes_and_catches_tampering(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_passes_and_catches_tampering_postgres() {
    verify_passes_and_catches_tampering(Db::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consort_verify_cli_reports_success_and_the_first_difference() {
    let mut c = Consortium::start(4, Db::Sqlite, RegistrationMode::Open).await;
    let (_, _, _, first) = mixed_workload(&c).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("homeserver.toml");
    std::fs::write(&config, toml::to_string(&c.org(3).config).unwrap()).unwrap();
    applied_everywhere(&c, &[3], height_of(&c, 1)).await;
    let url = c.org(3).config.database_url();
    c.kill(3).await;
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_consort"))
            .args(["verify", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    };
    let ok = run();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains("OK") && stdout.contains("bridge_room_events"),
        "{stdout}"
    );
    println!("{stdout}");

    let pool = connect_and_migrate(&url).await.unwrap();
    sqlx::query(
        "UPDATE bridge_room_events SET sender = '@mallory:org3.localhost' WHERE event_id = $1",
    )
    .bind(&first)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let bad = run();
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("bridge_room_events") && stderr.contains("mallory"),
        "{stderr}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_proof_from_another_organisation_verifies_offline() {
    let c = Consortium::start(4, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;
    let carol = register(&c.org(3).base_url, "carol").await;
    let room = alice
        .create_room(json!({"preset": "public_chat", "name": "proofs"}))
        .await;
    applied_everywhere(&c, &[2], height_of(&c, 1)).await;
    let (status, body) = bob.join(&room).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let event = alice.send(&room, "prove me").await;
    let path = format!(
        "/_consort/v1/rooms/{}/event/{}/proof",
        enc(&room),
        enc(&event)
    );
    let mut proof = Value::Null;
    for _ in 0..100 {
        let (status, body) = bob.call(Method::GET, &path, None).await;
        if status == StatusCode::OK {
            proof = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(proof["event_id"], json!(event), "{proof}");
    let genesis = c.org(1).node.chain.as_ref().unwrap().genesis().clone();
    let bytes = serde_json::to_vec(&proof).unwrap();
    println!("event proof: {} bytes", bytes.len());
    let verified = event_proof::verify(&bytes, &genesis).expect("the proof verifies");
    assert_eq!(verified.org, "org1");

    // Any byte changed, anywhere, and it does not.
    for i in 0..bytes.len() {
        let mut forged = bytes.clone();
        forged[i] ^= 0x01;
        assert!(
            event_proof::verify(&forged, &genesis).is_err(),
            "byte {i} flipped ({:?}) still verifies",
            String::from_utf8_lossy(&forged[i.saturating_sub(20)..(i + 20).min(bytes.len())])
        );
    }

    // The command line says the same.
    let dir = tempfile::tempdir().unwrap();
    let genesis_path = dir.path().join("genesis.json");
    genesis.save(&genesis_path).unwrap();
    let good = dir.path().join("proof.json");
    std::fs::write(&good, &bytes).unwrap();
    let mut forged = bytes.clone();
    let at = bytes.len() - 40;
    forged[at] ^= 0x01;
    let bad = dir.path().join("forged.json");
    std::fs::write(&bad, &forged).unwrap();
    let run = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_consort"))
            .args(["verify-proof", "--genesis"])
            .arg(&genesis_path)
            .arg(file)
            .output()
            .unwrap()
    };
    let ok = run(&good);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("OK"));
    assert_eq!(run(&bad).status.code(), Some(1));

    // Someone who may not see the event learns nothing, not even that it exists.
    let private = alice.create_room(json!({"preset": "private_chat"})).await;
    let hidden = alice.send(&private, "not for carol").await;
    for (room, event) in [(&private, &hidden), (&room, &event)] {
        let path = format!(
            "/_consort/v1/rooms/{}/event/{}/proof",
            enc(room),
            enc(event)
        );
        let (status, body) = carol.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["errcode"], "M_NOT_FOUND");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_consortium_adds_no_empty_heights() {
    let c = Consortium::start(4, Db::Sqlite, RegistrationMode::Open).await;
    let alice = register(&c.org(1).base_url, "alice").await;
    // Settle: the registration's block, and any height already under way.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = ledger_status(&c.org(1).base_url).await["height"]
        .as_u64()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = ledger_status(&c.org(1).base_url).await["height"]
        .as_u64()
        .unwrap();
    assert!(
        after <= before + 1,
        "an idle consortium went from height {before} to {after} in 6 s"
    );
    // And a write still commits at once.
    let room = alice.create_room(json!({"preset": "private_chat"})).await;
    alice.send(&room, "awake").await;
    assert!(
        ledger_status(&c.org(1).base_url).await["height"]
            .as_u64()
            .unwrap()
            > after
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exits_non_zero_when_the_consensus_loop_ends() {
    use consort_homeserver::Config;
    let dir = tempfile::tempdir().unwrap();
    let org_dir = dir.path().join("org1");
    // One organisation: it decides alone.
    let ports = consort_chain::local::free_local_ports(1).unwrap();
    consort_chain::local::init_dir_with_ports(dir.path(), &ports, "consort-test").unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = Config {
        server_name: "org1.localhost".into(),
        listen,
        data_dir: org_dir.display().to_string(),
        chain_dir: Some(org_dir.display().to_string()),
        registration: RegistrationMode::Open,
        ..Config::default()
    };
    let config_path = org_dir.join("homeserver.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_consort"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let http = reqwest::Client::new();
    let register = |name: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            http.post(format!("{base}/_matrix/client/v3/register"))
                .json(&json!({"username": name, "password": "pw-1-long", "auth": {"type": "m.login.dummy"}}))
                .send()
                .await
        }
    };
    let mut up = false;
    for _ in 0..300 {
        if register("first")
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the node serves and commits");

    // The injected fault: the projection's outcome table disappears under the running node,
    // so that applying the next block fails, however often it is retried.
    let pool = connect_and_migrate(&config.database_url()).await.unwrap();
    sqlx::query("DROP TABLE bridge_outcomes")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let started = std::time::Instant::now();
    // The client gets 503, or a closed connection when the process ends first.
    if let Ok(answer) = register("second").await {
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("serve exits")
        .unwrap();
    println!(
        "serve exited {:?} after {} ms",
        status,
        started.elapsed().as_millis()
    );
    assert!(!status.success(), "a non-zero exit: {status}");
    let mut stderr = String::new();
    use tokio::io::AsyncReadExt;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(
        stderr.contains("the consensus loop stopped") && stderr.contains("bridge_outcomes"),
        "{stderr}"
    );
}

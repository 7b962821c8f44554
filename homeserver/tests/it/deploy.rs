//! What an operator deploys and watches: the Helm chart and the Dockerfile (checked by
//! `deploy-tests/check_chart.py` with the Helm SDK, the Kubernetes schemas and hadolint), the
//! Prometheus metrics (parsed by the Prometheus project's own parser), and the health and
//! readiness endpoints through a node's restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use consort_homeserver::config::RegistrationMode;
use consort_homeserver::testing::{Consortium, Db};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::register;

fn deploy_tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy-tests")
}

/// The deployment checks' python (its virtual environment made when needed).
fn python() -> String {
    let setup = Command::new("bash")
        .arg(deploy_tests_dir().join("setup.sh"))
        .output()
        .expect("run deploy-tests/setup.sh");
    assert!(
        setup.status.success(),
        "deploy-tests/setup.sh failed: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    String::from_utf8_lossy(&setup.stdout).trim().to_owned()
}

#[test]
fn the_chart_renders_lints_and_validates_and_the_dockerfile_lints() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(python())
        .arg(deploy_tests_dir().join("check_chart.py"))
        .arg(&repo)
        .output()
        .expect("run check_chart.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "check_chart.py failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(stdout.lines().last(), Some("PASS"), "{stdout}\n{stderr}");
    eprintln!("{stdout}");
}

/// `GET /metrics` on the node's metrics listener, parsed by `prometheus_client`'s OpenMetrics
/// parser: family name → its type and samples.
async fn scrape(address: std::net::SocketAddr) -> BTreeMap<String, Value> {
    let response = reqwest::get(format!("http://{address}/metrics"))
        .await
        .expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("body");
    let python = python();
    let script = deploy_tests_dir().join("parse_metrics.py");
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run parse_metrics.py");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write metrics");
        let output = child.wait_with_output().expect("parser output");
        assert!(
            output.status.success(),
            "the Prometheus parser refused the metrics: {}\n{text}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<BTreeMap<String, Value>>(&output.stdout).expect("json")
    })
    .await
    .expect("parser task")
}

/// The samples of `family` whose name is `sample` and whose labels include `labels`.
fn samples<'a>(
    metrics: &'a BTreeMap<String, Value>,
    family: &str,
    sample: &str,
    labels: &[(&str, &str)],
) -> Vec<&'a Value> {
    metrics
        .get(family)
        .unwrap_or_else(|| panic!("no family {family} in {:?}", metrics.keys()))["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .filter(|s| s["name"] == sample)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .collect()
}

fn value(sample: &Value) -> f64 {
    sample["value"].as_f64().expect("a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_show_requests_the_ledger_rejections_and_long_polls() {
    let c = Consortium::start_with(2, Db::Sqlite, RegistrationMode::Open, |config| {
        config.metrics_listen = Some(([127, 0, 0, 1], 0).into());
    })
    .await;
    let address = c.org(1).node.metrics_addr.expect("metrics listener");
    // Not on the client port.
    let on_client_port = reqwest::get(format!("{}/metrics", c.org(1).base_url))
        .await
        .expect("request");
    assert_eq!(on_client_port.status(), StatusCode::NOT_FOUND);

    let alice = register(&c.org(1).base_url, "alice").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    alice.send(&room, "hello").await;
    let (status, _) = alice
        .call(
            reqwest::Method::GET,
            "/_matrix/client/v3/rooms/!nope:x/state",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A record that is not a Consort record, put on the ledger past the homeserver: every
    // node's projection rejects it as `malformed`.
    let chain = c.org(1).node.chain.clone().expect("ledger");
    chain
        .submit(b"not a record".to_vec())
        .await
        .expect("committed");
    // Long-polls held open, one after another, while the metrics are read (a slow machine
    // may see one end before a scrape finds it).
    let mut since = alice.sync(None, 0).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let poller = alice.clone();
    let poll = tokio::spawn(async move {
        loop {
            let answer = poller.sync(Some(&since), 5_000).await;
            if let Some(next) = answer["next_batch"].as_str() {
                since = next.to_owned();
            }
        }
    });

    let mut metrics = BTreeMap::new();
    for _ in 0..100 {
        metrics = scrape(address).await;
        let polls = value(
            samples(
                &metrics,
                "consort_sync_long_polls",
                "consort_sync_long_polls",
                &[],
            )[0],
        );
        let applied = value(
            samples(
                &metrics,
                "consort_ledger_applied_height",
                "consort_ledger_applied_height",
                &[],
            )[0],
        );
        let rejected = value(
            samples(
                &metrics,
                "consort_records_rejected",
                "consort_records_rejected_total",
                &[("reason", "malformed")],
            )[0],
        );
        if polls >= 1.0 && applied > 0.0 && rejected >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let one = |family: &str, sample: &str, labels: &[(&str, &str)]| -> f64 {
        let found = samples(&metrics, family, sample, labels);
        assert_eq!(
            found.len(),
            1,
            "{family} {labels:?}: {found:?} in {:?}",
            metrics.get(family)
        );
        value(found[0])
    };
    assert!(one("consort_sync_long_polls", "consort_sync_long_polls", &[]) >= 1.0);
    assert!(
        one(
            "consort_records_rejected",
            "consort_records_rejected_total",
            &[("reason", "malformed")]
        ) >= 1.0
    );
    // Every reason has its series from the start.
    assert_eq!(
        samples(
            &metrics,
            "consort_records_rejected",
            "consort_records_rejected_total",
            &[]
        )
        .len(),
        consort_bridge::RejectionKind::ALL.len()
    );
    // Requests by route template (not by concrete room id), method and status.
    let sends = one(
        "consort_http_requests",
        "consort_http_requests_total",
        &[
            (
                "endpoint",
                "/_matrix/client/v3/rooms/{room_id}/send/{event_type}/{txn_id}",
            ),
            ("method", "PUT"),
            ("status", "200"),
        ],
    );
    assert!(sends >= 1.0, "{sends}");
    let forbidden = one(
        "consort_http_requests",
        "consort_http_requests_total",
        &[
            ("endpoint", "/_matrix/client/v3/rooms/{room_id}/state"),
            ("status", "403"),
        ],
    );
    assert_eq!(forbidden, 1.0);
    let no_room_ids = metrics["consort_http_requests"]["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .all(|s| !s["labels"]["endpoint"].as_str().unwrap_or("").contains('!'));
    assert!(no_room_ids, "concrete paths leaked into the endpoint label");
    let latencies = one(
        "consort_http_request_duration_seconds",
        "consort_http_request_duration_seconds_count",
        &[
            ("endpoint", "/_matrix/client/v3/createRoom"),
            ("method", "POST"),
        ],
    );
    assert_eq!(latencies, 1.0);
    // The ledger.
    let height = one("consort_ledger_height", "consort_ledger_height", &[]);
    assert!(height >= 1.0);
    assert!(
        one(
            "consort_ledger_applied_height",
            "consort_ledger_applied_height",
            &[]
        ) >= 1.0
    );
    assert!(
        one(
            "consort_mempool_transactions",
            "consort_mempool_transactions",
            &[]
        ) >= 0.0
    );
    assert!(
        one(
            "consort_block_commit_seconds",
            "consort_block_commit_seconds_count",
            &[]
        ) >= 1.0
    );
    assert_eq!(
        metrics["consort_block_commit_seconds"]["type"], "histogram",
        "{:?}",
        metrics["consort_block_commit_seconds"]
    );
    // The one other validator, once the network has reported it (every 2 s).
    let mut peers = one("consort_peers_connected", "consort_peers_connected", &[]);
    for _ in 0..100 {
        if peers == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        peers = value(
            samples(
                &scrape(address).await,
                "consort_peers_connected",
                "consort_peers_connected",
                &[],
            )[0],
        );
    }
    assert_eq!(peers, 1.0);
    poll.abort();
    c.shutdown().await;
}

/// `GET /_consort/ready` with its JSON verdict.
async fn ready(base: &str) -> (StatusCode, Value) {
    let response = reqwest::get(format!("{base}/_consort/ready"))
        .await
        .expect("ready");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

async fn until_ready(base: &str) -> Value {
    for _ in 0..300 {
        let (status, v) = ready(base).await;
        if status == StatusCode::OK {
            assert_eq!(v["ready"], true, "{v}");
            return v;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base} never became ready: {:?}", ready(base).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_is_false_while_a_restarted_node_catches_up() {
    let mut c = Consortium::start(4, Db::Sqlite, RegistrationMode::Open).await;
    let health = reqwest::get(format!("{}/_consort/health", c.org(1).base_url))
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::OK);
    let alice = register(&c.org(1).base_url, "alice").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    for k in 1..=4 {
        until_ready(&c.org(k).base_url).await;
    }

    // Org 4 goes down and the other three go on.
    c.kill(4).await;
    for i in 0..20 {
        alice.send(&room, &format!("while org4 is down {i}")).await;
    }
    let height = c
        .org(1)
        .node
        .chain
        .as_ref()
        .expect("ledger")
        .status()
        .height;

    c.restart(4).await;
    let (status, behind) = ready(&c.org(4).base_url).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{behind}");
    assert_eq!(behind["ready"], false, "{behind}");
    assert!(behind["reason"].is_string(), "{behind}");
    assert!(
        behind["height"].as_u64().expect("height") < height,
        "org4 restarted at {behind} while the others are at {height}"
    );
    // New traffic keeps the consortium deciding heights: org4 hears the others' votes.
    let sender = {
        let alice = alice.clone();
        let room = room.clone();
        tokio::spawn(async move {
            for i in 0.. {
                alice.send(&room, &format!("after the restart {i}")).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let caught_up = until_ready(&c.org(4).base_url).await;
    sender.abort();
    assert!(
        caught_up["height"].as_u64().expect("height") >= height,
        "{caught_up}"
    );
    assert!(
        caught_up["applied_height"].as_u64() >= caught_up["height"].as_u64(),
        "{caught_up}"
    );
    c.shutdown().await;
}

/// `consort serve` with `log_format = "json"`: every line is a JSON object, a request's lines
/// carry its id (the client's `X-Request-Id`, echoed back, or one the node makes up), and
/// SIGTERM (what Kubernetes sends) stops the node cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_json_lines_with_request_ids_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = consort_chain::local::free_port().expect("port");
    let config = dir.path().join("homeserver.toml");
    std::fs::write(
        &config,
        format!(
            "server_name = \"json.localhost\"\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\nlog_format = \"json\"\n",
            dir.path().display()
        ),
    )
    .expect("config");
    let log_path = dir.path().join("stderr.log");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_consort"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info,consort_homeserver=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .kill_on_drop(true)
        .spawn()
        .expect("consort serve starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{base}/_consort/health")).send().await
            && r.status() == StatusCode::OK
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        up,
        "{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    let (status, v) = ready(&base).await;
    assert_eq!((status, &v["ready"]), (StatusCode::OK, &json!(true)), "{v}");

    let given = http
        .get(format!("{base}/_matrix/client/versions"))
        .header("x-request-id", "test-req-42")
        .send()
        .await
        .expect("versions");
    assert_eq!(given.headers()["x-request-id"], "test-req-42");
    let made_up = http
        .get(format!("{base}/_matrix/client/versions"))
        .send()
        .await
        .expect("versions");
    let id = made_up.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );

    let pid = nix::unistd::Pid::from_raw(child.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops within 30 s of SIGTERM")
        .expect("exit status");
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(exit.success(), "{exit}: {log}");

    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["timestamp"].is_string() && l["level"].is_string())
    );
    let answered = |id: &str| {
        lines.iter().any(|l| {
            l["fields"]["message"] == "answered"
                && l["span"]["name"] == "request"
                && l["span"]["id"] == id
                && l["span"]["path"] == "/_matrix/client/versions"
        })
    };
    assert!(answered("test-req-42"), "{log}");
    assert!(answered(&id), "{log}");
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "stopping"),
        "{log}"
    );
}

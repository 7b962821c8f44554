//! The Kubo RPC backend against a real IPFS node (js-ipfs, `homeserver/ipfs-tests/`): media
//! uploaded through Consort is pinned on the node under the CID Consort computed, its blocks
//! are the node's, another organisation (embedded store) downloads it through the uploading
//! node's gateway, and an admin's removal unpins it. The embedded store's CIDs are checked
//! against the node's for the same bytes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use consort_bridge::media::unixfs;
use consort_homeserver::config::{MediaBackend, RegistrationMode};
use consort_homeserver::testing::{Consortium, Db};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::client::{admin, register};
use crate::media::{download_path, parts, pattern};

/// A js-ipfs daemon this test started; killed by PID when dropped.
struct IpfsNode {
    child: Child,
    api: String,
    _repo: tempfile::TempDir,
}

impl Drop for IpfsNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_ipfs() -> IpfsNode {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ipfs-tests");
    let setup = Command::new("bash")
        .arg(dir.join("setup.sh"))
        .output()
        .expect("run ipfs-tests/setup.sh");
    assert!(
        setup.status.success(),
        "ipfs-tests/setup.sh failed: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let repo = tempfile::tempdir().expect("repo dir");
    let mut child = Command::new("bash")
        .arg(dir.join("start-node.sh"))
        .arg(repo.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start js-ipfs");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the API line");
    let api = line
        .trim()
        .strip_prefix("API ")
        .unwrap_or_else(|| panic!("js-ipfs did not start: {line:?}"))
        .to_owned();
    IpfsNode {
        child,
        api,
        _repo: repo,
    }
}

/// POSTs an RPC command to the IPFS node itself.
async fn rpc(node: &IpfsNode, command: &str, args: &[(&str, &str)]) -> (StatusCode, Vec<u8>) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v0/{command}", node.api))
        .query(args)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("rpc");
    let status = response.status();
    (status, response.bytes().await.expect("body").to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubo_backend_stores_media_on_a_real_ipfs_node() {
    let ipfs = tokio::task::spawn_blocking(start_ipfs).await.expect("ipfs");
    let api = ipfs.api.clone();
    let c = Consortium::start_with(2, Db::Sqlite, RegistrationMode::Open, |config| {
        if config.server_name.starts_with("org1") {
            config.media.backend = MediaBackend::Kubo;
            config.media.kubo_url = Some(api.clone());
        }
    })
    .await;
    let alice = register(&c.org(1).base_url, "alice").await;
    let bob = register(&c.org(2).base_url, "bob").await;

    // The embedded store's CIDs are the IPFS node's for the same bytes.
    for len in [0, 1024, 256 * 1024, 256 * 1024 + 1, 3 * 1024 * 1024] {
        let data = pattern(len, 5);
        let part = reqwest::multipart::Part::bytes(data.clone())
            .file_name("f")
            .mime_str("application/octet-stream")
            .unwrap();
        let response = reqwest::Client::new()
            .post(format!("{}/api/v0/add", ipfs.api))
            .query(&[
                ("cid-version", "1"),
                ("raw-leaves", "true"),
                ("chunker", "size-262144"),
                ("cid-base", "base32"),
                ("pin", "false"),
            ])
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .expect("add");
        let added: Value = response.json().await.expect("add JSON");
        assert_eq!(
            added["Hash"].as_str(),
            Some(unixfs::build(&data).root.to_string().as_str()),
            "{len} bytes"
        );
    }

    let mut uploaded = Vec::new();
    for (len, seed) in [(1024, 1u8), (3 * 1024 * 1024, 2)] {
        let data = pattern(len, seed);
        let mxc = alice
            .upload_ok(data.clone(), "application/octet-stream")
            .await;
        let dag = unixfs::build(&data);
        let cid = dag.root.to_string();
        // Pinned on the IPFS node under Consort's CID, with the same root block.
        let (status, body) = rpc(&ipfs, "pin/ls", &[("arg", &cid), ("cid-base", "base32")]).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let pins: Value = serde_json::from_slice(&body).expect("pin/ls JSON");
        assert_eq!(pins["Keys"][&cid]["Type"], "recursive", "{pins}");
        let (status, root) = rpc(&ipfs, "block/get", &[("arg", &cid), ("timeout", "5s")]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(root == dag.blocks.last().expect("root block").data.to_vec());
        let (_, cat) = rpc(&ipfs, "cat", &[("arg", &cid)]).await;
        assert!(cat == data, "the node's copy is the upload");
        // Served by org1 from the node, and fetched by org2 through org1's gateway.
        for user in [&alice, &bob] {
            let (status, _, body) = user.get_bytes(&download_path(&mxc), false).await;
            assert_eq!(status, StatusCode::OK, "{len} bytes from {}", user.base);
            assert!(body == data, "{len} bytes from {}", user.base);
        }
        uploaded.push((mxc, cid));
    }

    // An admin's removal unpins it from the IPFS node.
    let (mxc, cid) = &uploaded[1];
    let (server, id) = parts(mxc);
    let (status, _) = admin(
        &c,
        1,
        Method::DELETE,
        &format!("/_synapse/admin/v1/media/{server}/{id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = rpc(&ipfs, "pin/ls", &[("arg", cid), ("cid-base", "base32")]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(String::from_utf8_lossy(&body).contains("not pinned"));
    assert_eq!(
        alice.get_bytes(&download_path(mxc), false).await.0,
        StatusCode::NOT_FOUND
    );
    // The other file is still pinned and served.
    let (status, _) = rpc(
        &ipfs,
        "pin/ls",
        &[("arg", &uploaded[0].1), ("cid-base", "base32")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    c.shutdown().await;
    drop(ipfs);
}

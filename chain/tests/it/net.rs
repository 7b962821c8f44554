//! A test consortium: N validators in this process, each with its own database and WAL.

use std::sync::Arc;
use std::time::Duration;

use consort_chain::local::{OrgKeys, free_local_ports, local_consortium};
use consort_chain::{ChainNode, Genesis, NodeConfig, Tuning};
use tempfile::TempDir;

/// Which SQL backend the nodes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestNet {
    pub genesis: Genesis,
    pub keys: Vec<OrgKeys>,
    pub nodes: Vec<Option<Arc<ChainNode>>>,
    pub dir: TempDir,
    pub db_urls: Vec<String>,
    pub pg_dbs: Vec<String>,
}

pub fn pg_base() -> String {
    std::env::var("CONSORT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// Creates a fresh PostgreSQL database and returns its URL.
pub async fn create_pg_db() -> (String, String) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let name = format!("consort_test_{}", hex::encode(rand::random::<[u8; 6]>()));
    let mut conn = sqlx::AnyConnection::connect(&format!("{}/postgres", pg_base()))
        .await
        .expect("PostgreSQL must be running for the PostgreSQL tests (see .ci/run)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    (format!("{}/{name}", pg_base()), name)
}

pub async fn drop_pg_db(name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::AnyConnection::connect(&format!("{}/postgres", pg_base())).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
            .execute(&mut conn)
            .await;
    }
}

pub fn fast_tuning() -> Tuning {
    Tuning {
        empty_block_wait: Duration::from_millis(50),
        ..Tuning::default()
    }
}

impl TestNet {
    pub async fn start(n: usize, db: Db) -> TestNet {
        let ports = free_local_ports(n).unwrap();
        let (genesis, keys) = local_consortium("consort-test", &ports);
        let dir = tempfile::tempdir().unwrap();
        let mut db_urls = Vec::new();
        let mut pg_dbs = Vec::new();
        for i in 0..n {
            match db {
                Db::Sqlite => db_urls.push(format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join(format!("org{}.db", i + 1)).display()
                )),
                Db::Postgres => {
                    let (url, name) = create_pg_db().await;
                    db_urls.push(url);
                    pg_dbs.push(name);
                }
            }
        }
        let mut net = TestNet {
            genesis,
            keys,
            nodes: vec![None; n],
            dir,
            db_urls,
            pg_dbs,
        };
        for i in 0..n {
            net.start_node(i).await;
        }
        net
    }

    pub fn config(&self, i: usize) -> NodeConfig {
        NodeConfig {
            home: self.dir.path().join(format!("org{}", i + 1)),
            genesis: self.genesis.clone(),
            org_id: format!("org{}", i + 1),
            node_key: self.keys[i].node_key.clone(),
            validator_key: self.keys[i].validator_key.clone(),
            database_url: self.db_urls[i].clone(),
            tuning: fast_tuning(),
            executor: None,
        }
    }

    pub async fn start_node(&mut self, i: usize) {
        let mut last = None;
        // A restarted node's ports may take a moment to be released by the old sockets.
        for _ in 0..50 {
            match ChainNode::start(self.config(i)).await {
                Ok(node) => {
                    self.nodes[i] = Some(Arc::new(node));
                    return;
                }
                Err(e) => {
                    last = Some(e.to_string());
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        panic!("node {i} did not start: {last:?}");
    }

    pub fn node(&self, i: usize) -> Arc<ChainNode> {
        self.nodes[i].clone().expect("node is running")
    }

    pub async fn kill(&mut self, i: usize) {
        let node = self.nodes[i].take().expect("node is running");
        node.kill().await;
    }

    pub fn heights(&self) -> Vec<Option<u64>> {
        self.nodes
            .iter()
            .map(|n| n.as_ref().map(|n| n.status().height))
            .collect()
    }

    /// Waits until every running node has committed `height`.
    pub async fn wait_height(&self, height: u64, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.heights().iter().flatten().all(|h| *h >= height) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "nodes did not reach height {height}: {:?}",
                self.heights()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn shutdown(mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_some() {
                self.kill(i).await;
            }
        }
        for name in &self.pg_dbs {
            drop_pg_db(name).await;
        }
    }
}

//! A test consortium: N validators in this process on 127.0.0.1 ephemeral ports, each with
//! its own database (SQLite file or a fresh PostgreSQL database) and WAL. Used by the tests
//! of every crate.

use std::sync::Arc;
use std::time::Duration;

use crate::executor::BlockExecutor;
use crate::local::{OrgKeys, free_local_ports, local_consortium};
use crate::store::connect_and_migrate;
use crate::{ChainNode, Genesis, NodeConfig, Tuning};
use tempfile::TempDir;

/// Builds the executor of node `i` over its migrated pool (e.g. the bridge).
pub type ExecutorFactory =
    Arc<dyn Fn(usize, &sqlx::AnyPool, &Genesis) -> Arc<dyn BlockExecutor> + Send + Sync>;

/// Which SQL backend the nodes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    /// An SQLite file per node.
    Sqlite,
    /// A fresh PostgreSQL database per node.
    Postgres,
}

/// The running consortium.
pub struct TestNet {
    /// Its genesis.
    pub genesis: Genesis,
    /// Each org's keys.
    pub keys: Vec<OrgKeys>,
    /// Running nodes (`None` while killed).
    pub nodes: Vec<Option<Arc<ChainNode>>>,
    /// Node homes and SQLite files.
    pub dir: TempDir,
    /// Each node's database URL.
    pub db_urls: Vec<String>,
    /// Each node's migrated pool (shared with its executor).
    pub pools: Vec<Option<sqlx::AnyPool>>,
    pg_dbs: Vec<String>,
    executors: Option<ExecutorFactory>,
    tuning: Tuning,
}

/// Base URL of the test PostgreSQL server (see [`crate::test_postgres`]).
pub fn pg_base() -> String {
    crate::test_postgres::base_url()
}

/// Creates a fresh PostgreSQL database and returns its URL and name.
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

/// Drops a database made by [`create_pg_db`].
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

/// Default timing with a short idle wait, so tests see blocks quickly.
pub fn fast_tuning() -> Tuning {
    Tuning {
        empty_block_wait: Duration::from_millis(50),
        ..Tuning::default()
    }
}

impl TestNet {
    /// Starts `n` nodes that accept every transaction.
    pub async fn start(n: usize, db: Db) -> TestNet {
        Self::start_with(n, db, None).await
    }

    /// Starts `n` nodes whose executors `executors` builds.
    pub async fn start_with(n: usize, db: Db, executors: Option<ExecutorFactory>) -> TestNet {
        Self::start_with_tuning(n, db, executors, fast_tuning()).await
    }

    /// Starts `n` nodes with the given consensus timing.
    pub async fn start_with_tuning(
        n: usize,
        db: Db,
        executors: Option<ExecutorFactory>,
        tuning: Tuning,
    ) -> TestNet {
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
            pools: vec![None; n],
            pg_dbs,
            executors,
            tuning,
        };
        for i in 0..n {
            net.start_node(i).await;
        }
        net
    }

    /// Node `i`'s configuration.
    pub fn config(&self, i: usize) -> NodeConfig {
        NodeConfig {
            home: self.dir.path().join(format!("org{}", i + 1)),
            genesis: self.genesis.clone(),
            org_id: format!("org{}", i + 1),
            node_key: self.keys[i].node_key.clone(),
            validator_key: self.keys[i].validator_key.clone(),
            database_url: self.db_urls[i].clone(),
            tuning: self.tuning.clone(),
            listen: Default::default(),
            executor: None,
            pool: self.pools[i].clone(),
        }
    }

    /// (Re)starts node `i`.
    pub async fn start_node(&mut self, i: usize) {
        if self.pools[i].is_none() {
            let pool = connect_and_migrate(&self.db_urls[i])
                .await
                .expect("open the node's database");
            self.pools[i] = Some(pool);
        }
        let mut last = None;
        // A restarted node's ports may take a moment to be released by the old sockets.
        for _ in 0..50 {
            let mut config = self.config(i);
            if let (Some(f), Some(pool)) = (&self.executors, &self.pools[i]) {
                config.executor = Some(f(i, pool, &self.genesis));
            }
            match ChainNode::start(config).await {
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

    /// Running node `i`.
    pub fn node(&self, i: usize) -> Arc<ChainNode> {
        self.nodes[i].clone().expect("node is running")
    }

    /// Kills node `i` abruptly (its database pool is closed and reopened on restart).
    pub async fn kill(&mut self, i: usize) {
        let node = self.nodes[i].take().expect("node is running");
        node.kill().await;
        self.pools[i] = None;
    }

    /// Committed heights of all nodes.
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

    /// Stops every node and drops PostgreSQL databases.
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

//! The `consort` command: runs nodes, manages the chain and administers accounts.

fn main() -> anyhow::Result<()> {
    consort_homeserver::cli::main()
}

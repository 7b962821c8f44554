//! The `consort` command: runs nodes, manages the chain and administers accounts.

/// mimalloc, not the system allocator: a node's resident memory then follows what it uses
/// (password hashes take 19 MiB each, for a moment) instead of its peaks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    consort_homeserver::cli::main()
}

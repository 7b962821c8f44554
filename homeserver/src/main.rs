//! The `consort` command: runs nodes, manages the chain and administers accounts.

/// mimalloc, not the system allocator: a node's resident memory then follows what it uses
/// (password hashes take 19 MiB each, for a moment) instead of its peaks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    // mimalloc reserves its arena as one large mapping; where the kernel backs it with
    // transparent huge pages, each 2 MiB page is resident as soon as one byte of it is used
    // and stays so until every byte is freed. A node is better off with small pages.
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        eprintln!("transparent huge pages stay on: {e}");
    }
    consort_homeserver::cli::main()
}

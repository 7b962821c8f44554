//! How a node keeps its resident memory close to what it uses. The binary's allocator is
//! mimalloc, which gives freed memory back to the system only after a delay, and only when
//! the thread that freed it allocates again: after a burst (an initial `/sync` of hundreds of
//! rooms) an idle worker would keep its pages. Its environment variable asks it to give them
//! back at once; the launchers this project ships (`consort devnet`, the container image, the
//! Helm chart) set it.

/// mimalloc's option for the delay, in milliseconds, before freed memory is returned.
pub const PURGE_DELAY_ENV: &str = "MIMALLOC_PURGE_DELAY";

/// The delay the launchers set: none.
pub const PURGE_DELAY_MS: &str = "0";

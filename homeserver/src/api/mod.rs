//! The HTTP edge: the `Ruma<T>` extractor, the router, and one module per API area mirroring
//! ruma's module tree.

pub mod admin;
pub mod client;
pub mod consort;
pub mod json_body;
pub mod media;
pub mod metrics;
pub mod observe;
pub mod panic_net;
pub mod router;
pub mod ruma_wrapper;

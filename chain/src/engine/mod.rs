//! Everything Malachite needs from us: the consensus context, signing, the codec,
//! the reassembly of streamed proposals and the application loop.

pub(crate) mod app;
pub mod codec;
pub mod context;
mod observe;
pub mod signing;
pub mod streaming;
pub mod types;

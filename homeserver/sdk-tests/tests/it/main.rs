//! Consort driven by a real third-party Matrix client: the Rust `matrix-sdk`, speaking plain
//! HTTP to organisations of an in-process consortium (4 ledger nodes and homeservers on
//! 127.0.0.1 ephemeral ports, SQLite).

mod support;

mod approval;
mod contacts;
mod e2ee;
mod hydrogen_e2ee;
mod media;
mod preview;
mod rooms;
mod session;
mod sliding_sync;
mod timeline;

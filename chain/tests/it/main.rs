//! Integration tests of the ledger: real validators over real sockets on 127.0.0.1, real
//! SQLite files and a real PostgreSQL server.

mod consensus;
mod faults;
mod proofs;
mod refusals;
mod store;

//! Integration tests of the homeserver: real servers on 127.0.0.1 ephemeral ports over SQLite
//! and PostgreSQL, spoken to over HTTP.

mod harness;

mod account;
mod admin;
mod approval;
mod bad_input;
mod browser;
mod client;
mod consortium;
mod contacts;
mod deploy;
mod devices;
mod devnet;
mod endpoints;
mod initial_sync;
mod integrity;
mod jump_to_date;
mod key_backup;
mod keys;
mod knock;
mod media;
mod media_kubo;
mod mutual_rooms;
mod nio;
mod openid;
mod profile_filter;
mod push;
mod refresh;
mod relations;
mod reports;
mod restrict;
mod rooms;
mod rooms_bad_input;
mod rooms_features;
mod search;
mod sliding_sync;
mod spaces;
mod spec_bodies;
mod spec_coverage;
mod spec_fuzz;
mod third_party;
mod upgrade;

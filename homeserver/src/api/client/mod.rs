//! Handlers of the Matrix client-server API, one per endpoint, grouped like ruma's modules.

pub mod account;
pub mod backup;
pub mod config;
pub mod device;
pub mod directory;
pub mod discovery;
pub mod filter;
pub mod keys;
pub mod membership;
pub mod message;
pub mod mutual_rooms;
pub mod openid;
pub mod presence;
pub mod profile;
pub mod push;
pub mod pusher;
pub mod receipt;
pub mod relations;
pub mod report;
pub mod restrict;
pub mod room;
pub mod search;
pub mod session;
pub mod sliding_sync;
pub mod space;
pub mod state;
pub mod sync;
pub mod tag;
pub mod third_party;
pub mod timestamp;
pub mod to_device;
pub mod typing;
pub mod unconfigured;
pub mod user_directory;
pub mod whois;

use std::sync::Arc;

use crate::{api::ruma_wrapper::RumaResponse, state::AppState};

/// What every client handler returns.
pub type RouteResult<R> = crate::error::Result<RumaResponse<R>>;

/// The state extractor every handler takes.
pub type AppStateRef = axum::extract::State<Arc<AppState>>;

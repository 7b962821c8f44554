//! Handlers of the Matrix client-server API, one per endpoint, grouped like ruma's modules.

pub mod account;
pub mod device;
pub mod discovery;
pub mod filter;
pub mod profile;
pub mod session;

use std::sync::Arc;

use crate::{api::ruma_wrapper::RumaResponse, state::AppState};

/// What every client handler returns.
pub type RouteResult<R> = crate::error::Result<RumaResponse<R>>;

/// The state extractor every handler takes.
pub type AppStateRef = axum::extract::State<Arc<AppState>>;

//! `POST /user_directory/search`: users of any organisation who share a room with the
//! searcher or sit in a published room (Synapse's default scope).

use axum::extract::State;
use consort_bridge::rooms::read;
use ruma::api::client::user_directory::search_users;
use ruma::{OwnedMxcUri, OwnedUserId};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::Error;
use crate::services::rooms::send::store_error;

/// Most results one search returns.
const MAX_RESULTS: u64 = 50;

/// `POST /_matrix/client/v3/user_directory/search`
pub async fn search_users_route(
    State(state): AppStateRef,
    body: Ruma<search_users::v3::Request>,
) -> RouteResult<search_users::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let term = r.search_term.trim();
    if term.len() > 256 {
        return Err(Error::invalid_param("Search term is too long"));
    }
    let limit = u64::from(r.limit).clamp(1, MAX_RESULTS) as i64;
    let found = read::search_users(
        state.chain()?.pool(),
        sender.user_id.as_str(),
        term,
        limit + 1,
    )
    .await
    .map_err(store_error)?;
    let limited = found.len() as i64 > limit;
    let results = found
        .into_iter()
        .take(limit as usize)
        .filter_map(|(id, name, avatar)| {
            let mut user = search_users::v3::User::new(OwnedUserId::try_from(id).ok()?);
            user.display_name = name;
            user.avatar_url = avatar.map(OwnedMxcUri::from);
            Some(user)
        })
        .collect();
    Ok(search_users::v3::Response::new(results, limited).into())
}

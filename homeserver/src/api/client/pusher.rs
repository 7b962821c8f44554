//! `GET /pushers` and `POST /pushers/set`: where this node sends a user's push
//! notifications (`services::pusher` sends them). HTTP pushers only, as Synapse without
//! email configured: their `url` must be a push gateway's `/_matrix/push/v1/notify`.

use axum::extract::State;
use ruma::api::client::push::{Pusher, PusherKind, get_pushers, set_pusher};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::{Error, Result};
use crate::services::now_ms;
use crate::storage::pushers::{self, StoredPusher};

/// The path every push gateway answers on.
pub const NOTIFY_PATH: &str = "/_matrix/push/v1/notify";

/// The spec's limits on the ids of a pusher.
const MAX_APP_ID: usize = 64;
const MAX_PUSHKEY: usize = 512;

/// `GET /_matrix/client/v3/pushers`
pub async fn get_pushers_route(
    State(state): AppStateRef,
    body: Ruma<get_pushers::v3::Request>,
) -> RouteResult<get_pushers::v3::Response> {
    let sender = body.sender()?;
    let pushers = pushers::of_user(&state.db.pool, sender.user_id.as_str())
        .await?
        .iter()
        .map(|p| {
            serde_json::from_str::<Pusher>(&p.pusher)
                .map_err(|e| Error::Internal(format!("a stored pusher: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(get_pushers::v3::Response::new(pushers).into())
}

/// `POST /_matrix/client/v3/pushers/set`
pub async fn set_pusher_route(
    State(state): AppStateRef,
    body: Ruma<set_pusher::v3::Request>,
) -> RouteResult<set_pusher::v3::Response> {
    let sender = body.sender()?;
    let user = sender.user_id.as_str();
    match &body.body.action {
        set_pusher::v3::PusherAction::Delete(ids) => {
            pushers::delete(&state.db.pool, user, &ids.app_id, &ids.pushkey).await?;
        }
        set_pusher::v3::PusherAction::Post(post) => {
            let p = &post.pusher;
            check(p)?;
            let json = serde_json::to_string(p)
                .map_err(|e| Error::Internal(format!("writing a pusher: {e}")))?;
            pushers::set(
                &state.db.pool,
                &StoredPusher {
                    user_id: user.to_owned(),
                    app_id: p.ids.app_id.clone(),
                    pushkey: p.ids.pushkey.clone(),
                    pusher: json,
                },
                post.append,
                now_ms(),
            )
            .await?;
        }
        _ => return Err(Error::invalid_param("Unknown pusher action")),
    }
    Ok(set_pusher::v3::Response::new().into())
}

/// What Synapse refuses of a new pusher.
fn check(p: &Pusher) -> Result<()> {
    if p.ids.app_id.is_empty() || p.ids.app_id.len() > MAX_APP_ID {
        return Err(Error::invalid_param(format!(
            "app_id must be 1 to {MAX_APP_ID} characters"
        )));
    }
    if p.ids.pushkey.is_empty() || p.ids.pushkey.len() > MAX_PUSHKEY {
        return Err(Error::invalid_param(format!(
            "pushkey must be 1 to {MAX_PUSHKEY} bytes"
        )));
    }
    match &p.kind {
        PusherKind::Http(http) => {
            let url = reqwest::Url::parse(&http.url)
                .map_err(|e| Error::invalid_param(format!("Config invalid: 'url' {e}")))?;
            if !matches!(url.scheme(), "http" | "https") || url.path() != NOTIFY_PATH {
                return Err(Error::invalid_param(format!(
                    "Config invalid: 'url' must be an http(s) URL with a path of '{NOTIFY_PATH}'"
                )));
            }
            Ok(())
        }
        PusherKind::Email(_) => Err(Error::invalid_param(
            "Email pushers need email, which this server does not send",
        )),
        _ => Err(Error::invalid_param("Unknown pusher kind")),
    }
}

//! Synapse's media admin API: `GET /_synapse/admin/v1/users/{user}/media` lists a user's
//! uploads, `DELETE /_synapse/admin/v1/media/{server}/{id}` removes one of this
//! organisation's media for legal or abuse reasons, on every node (`MediaUnpin`).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminSender;
use super::users::local_user;
use crate::api::client::AppStateRef;
use crate::error::{Error, Result};
use crate::services::media;

/// Paging of the media list, as Synapse takes it.
#[derive(Debug, Deserialize)]
pub struct MediaQuery {
    /// Offset.
    pub from: Option<u64>,
    /// Page size (default 100).
    pub limit: Option<u64>,
    /// `created_ts` only.
    pub order_by: Option<String>,
    /// `f` (oldest first) or `b` (newest first, the default).
    pub dir: Option<String>,
}

/// `GET /_synapse/admin/v1/users/{user}/media`
pub async fn user_media_route(
    State(state): AppStateRef,
    AdminSender(_admin): AdminSender,
    Path(user): Path<String>,
    Query(q): Query<MediaQuery>,
) -> Result<Json<Value>> {
    let user_id = local_user(&state, &user)?;
    if q.order_by.as_deref().is_some_and(|o| o != "created_ts") {
        return Err(Error::invalid_param("Unknown value for order_by"));
    }
    let oldest_first = match q.dir.as_deref() {
        None | Some("b") => false,
        Some("f") => true,
        Some(_) => return Err(Error::invalid_param("Unknown direction")),
    };
    let from = q.from.unwrap_or(0);
    let limit = q.limit.unwrap_or(100);
    let (rows, total) =
        media::list_user_media(&state, user_id.as_str(), from, limit, oldest_first).await?;
    let count = rows.len() as u64;
    let list: Vec<Value> = rows
        .into_iter()
        .map(|(row, name)| {
            let id = row.mxc.rsplit('/').next().unwrap_or_default().to_owned();
            json!({
                "media_id": id,
                "media_type": row.content_type.unwrap_or_else(|| "application/octet-stream".into()),
                "media_length": row.size,
                "upload_name": name,
                "created_ts": row.created_ms,
                "last_access_ts": row.created_ms,
                "quarantined_by": row.removed.then_some("removed"),
                "safe_from_quarantine": false,
                "cid": row.cid,
            })
        })
        .collect();
    let mut answer = json!({ "media": list, "total": total });
    if from + count < total {
        answer["next_token"] = json!(from + count);
    }
    Ok(Json(answer))
}

/// `DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}`
pub async fn delete_media_route(
    State(state): AppStateRef,
    AdminSender(admin): AdminSender,
    Path((server, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    media::remove(&state, &admin, &server, &id).await?;
    Ok(Json(json!({ "deleted_media": [id], "total": 1 })))
}

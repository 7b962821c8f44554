//! Push rules (`/pushrules/...`) and `/notifications`.

use axum::extract::State;
use consort_bridge::rooms::read;
use ruma::api::client::push::{
    PushRule, delete_pushrule, get_notifications, get_pushrule, get_pushrule_actions,
    get_pushrule_enabled, get_pushrules_all, get_pushrules_global_scope, set_pushrule,
    set_pushrule_actions, set_pushrule_enabled,
};
use ruma::api::error::ErrorKind;
use ruma::push::{InsertPushRuleError, RemovePushRuleError};
use ruma::{MilliSecondsSinceUnixEpoch, OwnedRoomId, UInt};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;
use crate::error::Error;
use crate::services::push_rules::{ruleset, save};
use crate::services::rooms::client_event::{Viewer, raw, to_client};
use crate::services::rooms::notifications::{read_position, room_context, verdict};
use crate::services::rooms::send::store_error;
use crate::services::sync::current_token;

fn rule_not_found() -> Error {
    Error::not_found("Unknown push rule")
}

/// `GET /_matrix/client/v3/pushrules/`
pub async fn get_pushrules_all_route(
    State(state): AppStateRef,
    body: Ruma<get_pushrules_all::v3::Request>,
) -> RouteResult<get_pushrules_all::v3::Response> {
    let sender = body.sender()?;
    let rules = ruleset(&state, &sender.user_id).await?;
    Ok(get_pushrules_all::v3::Response::new(rules).into())
}

/// `GET /_matrix/client/v3/pushrules/global/`
pub async fn get_pushrules_global_route(
    State(state): AppStateRef,
    body: Ruma<get_pushrules_global_scope::v3::Request>,
) -> RouteResult<get_pushrules_global_scope::v3::Response> {
    let sender = body.sender()?;
    let rules = ruleset(&state, &sender.user_id).await?;
    Ok(get_pushrules_global_scope::v3::Response::new(rules).into())
}

/// `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn get_pushrule_route(
    State(state): AppStateRef,
    body: Ruma<get_pushrule::v3::Request>,
) -> RouteResult<get_pushrule::v3::Response> {
    let sender = body.sender()?;
    let rules = ruleset(&state, &sender.user_id).await?;
    let rule = rules
        .get(body.body.kind.clone(), &body.body.rule_id)
        .ok_or_else(rule_not_found)?;
    Ok(get_pushrule::v3::Response::new(PushRule::from(rule)).into())
}

/// `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn set_pushrule_route(
    State(state): AppStateRef,
    body: Ruma<set_pushrule::v3::Request>,
) -> RouteResult<set_pushrule::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let mut rules = ruleset(&state, &sender.user_id).await?;
    rules
        .insert(r.rule.clone(), r.after.as_deref(), r.before.as_deref())
        .map_err(|e| match e {
            InsertPushRuleError::UnknownRuleId => Error::not_found(e.to_string()),
            other => Error::invalid_param(other.to_string()),
        })?;
    save(&state, &sender.user_id, &rules).await?;
    Ok(set_pushrule::v3::Response::new().into())
}

/// `DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn delete_pushrule_route(
    State(state): AppStateRef,
    body: Ruma<delete_pushrule::v3::Request>,
) -> RouteResult<delete_pushrule::v3::Response> {
    let sender = body.sender()?;
    let mut rules = ruleset(&state, &sender.user_id).await?;
    rules
        .remove(body.body.kind.clone(), &body.body.rule_id)
        .map_err(|e| match e {
            RemovePushRuleError::ServerDefault => Error::new(
                http::StatusCode::BAD_REQUEST,
                ErrorKind::Unknown,
                "Server-default rules cannot be deleted",
            ),
            _ => rule_not_found(),
        })?;
    save(&state, &sender.user_id, &rules).await?;
    Ok(delete_pushrule::v3::Response::new().into())
}

/// `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
pub async fn get_pushrule_enabled_route(
    State(state): AppStateRef,
    body: Ruma<get_pushrule_enabled::v3::Request>,
) -> RouteResult<get_pushrule_enabled::v3::Response> {
    let sender = body.sender()?;
    let rules = ruleset(&state, &sender.user_id).await?;
    let rule = rules
        .get(body.body.kind.clone(), &body.body.rule_id)
        .ok_or_else(rule_not_found)?;
    Ok(get_pushrule_enabled::v3::Response::new(rule.enabled()).into())
}

/// `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
pub async fn set_pushrule_enabled_route(
    State(state): AppStateRef,
    body: Ruma<set_pushrule_enabled::v3::Request>,
) -> RouteResult<set_pushrule_enabled::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let mut rules = ruleset(&state, &sender.user_id).await?;
    rules
        .set_enabled(r.kind.clone(), &r.rule_id, r.enabled)
        .map_err(|_| rule_not_found())?;
    save(&state, &sender.user_id, &rules).await?;
    Ok(set_pushrule_enabled::v3::Response::new().into())
}

/// `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
pub async fn get_pushrule_actions_route(
    State(state): AppStateRef,
    body: Ruma<get_pushrule_actions::v3::Request>,
) -> RouteResult<get_pushrule_actions::v3::Response> {
    let sender = body.sender()?;
    let rules = ruleset(&state, &sender.user_id).await?;
    let rule = rules
        .get(body.body.kind.clone(), &body.body.rule_id)
        .ok_or_else(rule_not_found)?;
    Ok(get_pushrule_actions::v3::Response::new(rule.actions().to_vec()).into())
}

/// `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
pub async fn set_pushrule_actions_route(
    State(state): AppStateRef,
    body: Ruma<set_pushrule_actions::v3::Request>,
) -> RouteResult<set_pushrule_actions::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let mut rules = ruleset(&state, &sender.user_id).await?;
    rules
        .set_actions(r.kind.clone(), &r.rule_id, r.actions.clone())
        .map_err(|_| rule_not_found())?;
    save(&state, &sender.user_id, &rules).await?;
    Ok(set_pushrule_actions::v3::Response::new().into())
}

/// Events per joined room looked at by `/notifications`.
const NOTIFICATIONS_SCAN: i64 = 200;

/// `GET /_matrix/client/v3/notifications`: recent events of the user's rooms that their push
/// rules make notify, newest first (`only=highlight` for highlights only).
pub async fn get_notifications_route(
    State(state): AppStateRef,
    body: Ruma<get_notifications::v3::Request>,
) -> RouteResult<get_notifications::v3::Response> {
    let sender = body.sender()?;
    let r = &body.body;
    let pool = state.chain()?.pool();
    let end = match &r.from {
        Some(from) => from
            .parse::<i64>()
            .map_err(|_| Error::invalid_param("Invalid `from` token"))?,
        None => current_token(&state).await?.end(),
    };
    let limit = r.limit.map_or(20, |l| u64::from(l) as usize).clamp(1, 100);
    let only_highlight = r.only.as_deref() == Some("highlight");
    let rules = ruleset(&state, &sender.user_id).await?;
    let viewer = Viewer::of(sender);
    let mut found = Vec::new();
    let rooms = read::rooms_of_user(pool, sender.user_id.as_str())
        .await
        .map_err(store_error)?;
    for (room_id, _, _) in rooms.iter().filter(|(_, m, _)| m == "join") {
        let joined =
            read::state_entry_at(pool, room_id, "m.room.member", sender.user_id.as_str(), end)
                .await
                .map_err(store_error)?
                .map_or(i64::MAX, |m| m.pos);
        let events = read::page(pool, room_id, joined, end, true, NOTIFICATIONS_SCAN)
            .await
            .map_err(store_error)?;
        let ctx = room_context(pool, room_id, &sender.user_id).await?;
        let read_up_to = read_position(pool, room_id, &sender.user_id).await?;
        for e in events
            .into_iter()
            .filter(|e| e.sender != sender.user_id.as_str())
        {
            let v = verdict(&rules, &ctx, &e).await?;
            if v.notify && (!only_highlight || v.highlight) {
                found.push((e, v, read_up_to));
            }
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0.pos));
    let more = found.len() > limit;
    found.truncate(limit);
    let mut notifications = Vec::new();
    for (e, v, read_up_to) in &found {
        let value = to_client(pool, e, viewer).await?;
        let ts = value["origin_server_ts"].as_u64().unwrap_or_default();
        let mut actions = vec![ruma::push::Action::Notify];
        if v.highlight {
            actions.push(ruma::push::Action::SetTweak(ruma::push::Tweak::Highlight(
                ruma::push::HighlightTweakValue::Yes,
            )));
        }
        let room = OwnedRoomId::try_from(e.room_id.as_str())
            .map_err(|e| Error::Internal(e.to_string()))?;
        notifications.push(get_notifications::v3::Notification::new(
            actions,
            raw(&value)?,
            e.pos <= *read_up_to,
            room,
            MilliSecondsSinceUnixEpoch(UInt::try_from(ts).unwrap_or_default()),
        ));
    }
    let mut response = get_notifications::v3::Response::new(notifications);
    if more {
        response.next_token = found.last().map(|(e, _, _)| e.pos.to_string());
    }
    Ok(response.into())
}

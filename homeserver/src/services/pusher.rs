//! Push notifications: after every applied block, the new room events that this node's
//! users' push rules mark `notify` go to each of those users' pushers, as the push gateway
//! API's `POST /_matrix/push/v1/notify`, whichever organisation sent the event. Retried with
//! backoff; pushkeys the gateway rejects lose their pusher, as Synapse does. Gateways on
//! blacklisted addresses (`ip_range_blacklist`, unless `ip_range_whitelist`) are not called.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use consort_bridge::position::end_of;
use consort_bridge::rooms::read::{self, StoredEvent};
use ruma::UserId;
use ruma::api::client::push::{Pusher, PusherKind};
use ruma::push::PushFormat;
use serde_json::{Value, json};

use crate::config::OutboundRanges;
use crate::error::{Error, Result};
use crate::services::push_rules::ruleset;
use crate::services::rooms::notifications::{room_context, unread, verdict};
use crate::services::rooms::send::store_error;
use crate::state::AppState;
use crate::storage::pushers;

/// Attempts at delivering one notification, with a doubling pause from 1 s between them.
const ATTEMPTS: u32 = 4;
/// How long a gateway may take to answer.
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(10);
/// Events of one room looked at per block (more in one block is a bulk import, not chat).
const MAX_EVENTS_PER_ROOM: i64 = 100;

/// Starts the sender; it stops with the node (when the state is dropped).
pub fn spawn(state: &Arc<AppState>) {
    let Ok(chain) = state.chain() else {
        return;
    };
    let ranges = match state.config.outbound_ranges() {
        Ok(r) => Arc::new(r),
        Err(e) => {
            tracing::error!(error = %e, "push notifications are off");
            return;
        }
    };
    let mut applied = chain.watch_applied();
    // Only what is applied from now on: a node does not push its history on start.
    let mut done = end_of(*applied.borrow());
    let weak: Weak<AppState> = Arc::downgrade(state);
    tokio::spawn(async move {
        while applied.changed().await.is_ok() {
            let end = end_of(*applied.borrow());
            let Some(state) = weak.upgrade() else {
                return;
            };
            if end > done {
                if let Err(e) = notify_between(&state, &ranges, done, end).await {
                    tracing::warn!(error = %e, "push notifications for new events failed");
                }
                done = end;
            }
        }
    });
}

/// Sends the notifications of events at `from <= pos < to`.
async fn notify_between(
    state: &Arc<AppState>,
    ranges: &Arc<OutboundRanges>,
    from: i64,
    to: i64,
) -> Result<()> {
    // Most blocks concern nobody with a pusher: one query settles that before any room is read.
    let with_pushers = pushers::users(&state.db.pool).await?;
    if with_pushers.is_empty() {
        return Ok(());
    }
    let pool = state.chain()?.pool().clone();
    for room in read::rooms_changed(&pool, from, to)
        .await
        .map_err(store_error)?
    {
        let events = read::page(&pool, &room, from, to, false, MAX_EVENTS_PER_ROOM)
            .await
            .map_err(store_error)?;
        if events.is_empty() {
            continue;
        }
        let members = read::members(&pool, &room, "join")
            .await
            .map_err(store_error)?;
        // Only this organisation's users have pushers here.
        for member in members.iter().filter(|m| with_pushers.contains(*m)) {
            let user = UserId::parse(member.as_str())
                .map_err(|e| Error::Internal(format!("stored member: {e}")))?;
            let stored = pushers::of_user(&state.db.pool, member).await?;
            if stored.is_empty() {
                continue;
            }
            let rules = ruleset(state, &user).await?;
            let ctx = room_context(&pool, &room, &user).await?;
            for event in events.iter().filter(|e| e.sender != *member) {
                let v = verdict(&rules, &ctx, event).await?;
                if !v.notify {
                    continue;
                }
                let counts = unread(&pool, &state.unread, &room, &user, &rules, to).await?;
                let high = v.highlight || v.sound || event.kind == "m.room.encrypted";
                for p in &stored {
                    let Ok(pusher) = serde_json::from_str::<Pusher>(&p.pusher) else {
                        continue;
                    };
                    let PusherKind::Http(http) = &pusher.kind else {
                        continue;
                    };
                    let body = notification(event, &pusher, http, counts.notifications, high);
                    tokio::spawn(deliver(
                        Arc::downgrade(state),
                        ranges.clone(),
                        member.clone(),
                        http.url.clone(),
                        body,
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The push gateway API's notification for one event and one pusher.
fn notification(
    event: &StoredEvent,
    pusher: &Pusher,
    http: &ruma::push::HttpPusherData,
    unread: u64,
    high: bool,
) -> Value {
    let mut device = json!({
        "app_id": pusher.ids.app_id,
        "pushkey": pusher.ids.pushkey,
        "data": http.data,
        "tweaks": {},
    });
    if let Some(data) = device["data"].as_object_mut() {
        data.remove("url");
    }
    let mut n = json!({
        "event_id": event.event_id,
        "room_id": event.room_id,
        "counts": {"unread": unread},
        "devices": [device],
        "prio": if high { "high" } else { "low" },
    });
    if http.format != Some(PushFormat::EventIdOnly) {
        let pdu: Value = serde_json::from_str(&event.json).unwrap_or(Value::Null);
        n["type"] = json!(event.kind);
        n["sender"] = json!(event.sender);
        if event.redacted_by.is_none() {
            n["content"] = pdu["content"].clone();
        }
    }
    json!({"notification": n})
}

/// Posts one notification, with retries; removes the pushers whose pushkeys it rejects.
async fn deliver(
    state: Weak<AppState>,
    ranges: Arc<OutboundRanges>,
    user: String,
    url: String,
    body: Value,
) {
    let mut pause = Duration::from_secs(1);
    for attempt in 1..=ATTEMPTS {
        match post(&ranges, &url, &body).await {
            Ok(rejected) => {
                if let Some(state) = state.upgrade() {
                    let app_id = body["notification"]["devices"][0]["app_id"]
                        .as_str()
                        .unwrap_or_default();
                    for pushkey in rejected {
                        tracing::info!(%user, app_id, "the push gateway rejected a pushkey: its pusher is removed");
                        let _ = pushers::delete(&state.db.pool, &user, app_id, &pushkey).await;
                    }
                }
                return;
            }
            Err(Delivery::Refused(reason)) => {
                tracing::warn!(%user, %url, %reason, "push gateway not called");
                return;
            }
            Err(Delivery::Failed(reason)) if attempt < ATTEMPTS => {
                tracing::debug!(%user, %url, %reason, attempt, "push gateway failed; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(Delivery::Failed(reason)) => {
                tracing::warn!(%user, %url, %reason, "push gateway failed; notification dropped");
            }
        }
    }
}

/// Why a notification did not go.
enum Delivery {
    /// Not to be tried again: the address is not allowed.
    Refused(String),
    /// Worth another try.
    Failed(String),
}

/// One attempt: the gateway's `rejected` pushkeys on success.
async fn post(
    ranges: &OutboundRanges,
    url: &str,
    body: &Value,
) -> std::result::Result<Vec<String>, Delivery> {
    let parsed = reqwest::Url::parse(url).map_err(|e| Delivery::Refused(e.to_string()))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| Delivery::Refused("no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| Delivery::Refused("no port".into()))?;
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| Delivery::Failed(format!("resolving {host}: {e}")))?
        .collect();
    let Some(address) = addresses.first().copied() else {
        return Err(Delivery::Failed(format!("{host} has no address")));
    };
    if let Some(blocked) = addresses.iter().find(|a| !ranges.allows(a.ip())) {
        return Err(Delivery::Refused(format!(
            "{} is in ip_range_blacklist",
            blocked.ip()
        )));
    }
    // Connect to the address that was checked, not to a second lookup's answer.
    let client = reqwest::Client::builder()
        .resolve(&host, address)
        .timeout(GATEWAY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Delivery::Failed(e.to_string()))?;
    let response = client
        .post(parsed)
        .json(body)
        .send()
        .await
        .map_err(|e| Delivery::Failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(Delivery::Failed(format!("answered {}", response.status())));
    }
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    Ok(answer["rejected"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

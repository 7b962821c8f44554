//! Whether a user may read a room, and up to where: members read it all, former members up
//! to their departure, anyone a world-readable room; everyone else gets `M_FORBIDDEN`, the
//! same answer as for a room that does not exist (so room ids do not leak).

use consort_bridge::rooms::read;
use ruma::{RoomId, UserId};

use super::send::store_error;
use super::visibility::{Window, window};
use crate::error::{Error, Result};
use crate::services::sync::current_token;
use crate::state::AppState;

/// A reader's view of a room.
#[derive(Debug, Clone)]
pub struct Access {
    /// What the reader may see of the history.
    pub window: Window,
    /// The first position the reader may not read: now for members, just after their
    /// departure for former members.
    pub end: i64,
    /// Whether the reader is joined now.
    pub joined: bool,
}

/// The reader's access to `room_id`, or `M_FORBIDDEN`.
pub async fn access(state: &AppState, user: &UserId, room_id: &RoomId) -> Result<Access> {
    let pool = state.chain()?.pool();
    let now = current_token(state).await?.end();
    let window = window(pool, room_id.as_str(), user.as_str(), now).await?;
    let member = read::state_entry_at(pool, room_id.as_str(), "m.room.member", user.as_str(), now)
        .await
        .map_err(store_error)?;
    let not_in_room = || Error::forbidden(format!("User {user} not in room {room_id}"));
    match member.as_ref().and_then(|m| m.membership.as_deref()) {
        Some("join") => Ok(Access {
            window,
            end: now,
            joined: true,
        }),
        Some("leave" | "ban") => {
            let left_at = member.as_ref().map_or(0, |m| m.pos);
            if window.ever_joined() {
                Ok(Access {
                    window,
                    end: left_at + 1,
                    joined: false,
                })
            } else {
                Err(not_in_room())
            }
        }
        _ => {
            if window.world_readable() {
                Ok(Access {
                    window,
                    end: now,
                    joined: false,
                })
            } else {
                Err(not_in_room())
            }
        }
    }
}

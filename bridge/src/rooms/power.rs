//! A room's power levels as ruma computes them from its `m.room.create` and
//! `m.room.power_levels` state, for the checks the auth rules leave to the server (who may
//! redact whose events, who may publish a room) and for the homeserver's own checks.

use std::collections::BTreeMap;

use ruma::OwnedUserId;
use ruma::events::StateEventType;
use ruma::events::room::create::RoomCreateEventContent;
use ruma::events::room::power_levels::{
    RoomPowerLevels, RoomPowerLevelsEventContent, RoomPowerLevelsSource,
};
use ruma::room_version_rules::RoomVersionRules;

use super::event::Pdu;

/// The creators of a room: the create event's sender and, from v12, its additional creators.
pub fn creators(create: &Pdu, rules: &RoomVersionRules) -> Vec<OwnedUserId> {
    let mut creators = vec![create.sender.clone()];
    if rules.authorization.additional_room_creators
        && let Ok(content) = serde_json::from_str::<RoomCreateEventContent>(create.content().get())
    {
        creators.extend(content.additional_creators);
    }
    creators
}

/// The power levels in force given a room's state (at least its create and power levels
/// entries). Malformed power levels (which the auth rules never accept) count as absent.
pub fn from_state(
    state: &BTreeMap<(StateEventType, String), Pdu>,
    rules: &RoomVersionRules,
) -> RoomPowerLevels {
    let creators = state
        .get(&(StateEventType::RoomCreate, String::new()))
        .map(|c| creators(c, rules))
        .unwrap_or_default();
    let content = state
        .get(&(StateEventType::RoomPowerLevels, String::new()))
        .and_then(|e| serde_json::from_str::<RoomPowerLevelsEventContent>(e.content().get()).ok());
    RoomPowerLevels::new(
        RoomPowerLevelsSource::from(content),
        &rules.authorization,
        creators,
    )
}

//! Discovery: `/versions`, `/.well-known/matrix/client` and `/capabilities`.

use std::collections::BTreeMap;

use axum::extract::State;
use ruma::{
    RoomVersionId,
    api::client::discovery::{
        discover_homeserver::{self, HomeserverInfo},
        get_capabilities::{
            self,
            v3::{
                Capabilities, ChangePasswordCapability, ProfileFieldsCapability,
                RoomVersionStability, RoomVersionsCapability,
            },
        },
        get_supported_versions,
    },
    profile::ProfileFieldName,
};

use super::{AppStateRef, RouteResult};
use crate::api::ruma_wrapper::Ruma;

/// Spec versions whose endpoints this node serves (the subset it implements of each).
const VERSIONS: &[&str] = &[
    "r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10",
    "v1.11", "v1.12", "v1.13", "v1.14", "v1.15", "v1.16",
];

/// `GET /_matrix/client/versions`
pub async fn versions_route(
    _body: Ruma<get_supported_versions::Request>,
) -> RouteResult<get_supported_versions::Response> {
    let mut response =
        get_supported_versions::Response::new(VERSIONS.iter().map(|v| (*v).to_owned()).collect());
    // Unstable endpoints that are served, so that clients use them.
    response
        .unstable_features
        .insert("uk.half-shot.msc2666.query_mutual_rooms".to_owned(), true);
    response
        .unstable_features
        .insert("org.matrix.simplified_msc3575".to_owned(), true);
    Ok(response.into())
}

/// `GET /.well-known/matrix/client`
pub async fn well_known_route(
    State(state): AppStateRef,
    _body: Ruma<discover_homeserver::Request>,
) -> RouteResult<discover_homeserver::Response> {
    Ok(
        discover_homeserver::Response::new(HomeserverInfo::new(state.config.public_base_url()))
            .into(),
    )
}

/// `GET /_matrix/client/v3/capabilities`
pub async fn capabilities_route(
    _body: Ruma<get_capabilities::v3::Request>,
) -> RouteResult<get_capabilities::v3::Response> {
    let mut capabilities = Capabilities::new();
    capabilities.change_password = ChangePasswordCapability::new(true);
    capabilities.room_versions = RoomVersionsCapability::new(
        RoomVersionId::V11,
        BTreeMap::from([(RoomVersionId::V11, RoomVersionStability::Stable)]),
    );
    let mut profile_fields = ProfileFieldsCapability::new(true);
    profile_fields.allowed = Some(vec![
        ProfileFieldName::DisplayName,
        ProfileFieldName::AvatarUrl,
    ]);
    capabilities.profile_fields = Some(profile_fields);
    Ok(get_capabilities::v3::Response::new(capabilities).into())
}

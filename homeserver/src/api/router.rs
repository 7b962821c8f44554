//! The one place where routes are registered: every ruma endpoint under all the paths of its
//! `Metadata` history (r0, v3, unstable aliases), the admin API, CORS, and Matrix errors for
//! unknown paths and methods.

use std::sync::Arc;

use axum::{
    Router,
    handler::Handler,
    routing::{MethodFilter, get, on},
};
use http::{HeaderName, Method, header};
use ruma::api::{Metadata, client as c, path_builder::PathBuilder};
use tower_http::cors::{Any, CorsLayer};

use super::{admin, client};
use crate::{error::Error, state::AppState};

type AppRouter = Router<Arc<AppState>>;

/// Adds `handler` under every path `T`'s metadata knows, for `T`'s method.
fn ruma_route<T, H, X>(router: AppRouter, handler: H) -> AppRouter
where
    T: Metadata,
    H: Handler<X, Arc<AppState>>,
    X: 'static,
{
    let Ok(filter) = MethodFilter::try_from(T::METHOD) else {
        tracing::error!(method = %T::METHOD, "endpoint with an unroutable method skipped");
        return router;
    };
    T::PATH_BUILDER.all_paths().fold(router, |router, path| {
        router.route(path, on(filter, handler.clone()))
    })
}

/// `ruma_route` plus the paths without the last segment (with and without a trailing slash),
/// for endpoints whose last path parameter may be empty: `/state/{eventType}/` and
/// `/state/{eventType}` mean the empty state key. The extractor fills in the missing value.
fn ruma_route_empty_last<T, H, X>(router: AppRouter, handler: H) -> AppRouter
where
    T: Metadata,
    H: Handler<X, Arc<AppState>>,
    X: 'static,
{
    let Ok(filter) = MethodFilter::try_from(T::METHOD) else {
        return router;
    };
    let router = ruma_route::<T, H, X>(router, handler.clone());
    T::PATH_BUILDER.all_paths().fold(router, |router, path| {
        let Some((prefix, _)) = path.rsplit_once('/') else {
            return router;
        };
        router
            .route(prefix, on(filter, handler.clone()))
            .route(&format!("{prefix}/"), on(filter, handler.clone()))
    })
}

/// The whole HTTP surface of a node.
pub fn router(state: Arc<AppState>) -> Router {
    let mut r = AppRouter::new();
    r = ruma_route::<c::discovery::get_supported_versions::Request, _, _>(
        r,
        client::discovery::versions_route,
    );
    r = ruma_route::<c::discovery::discover_homeserver::Request, _, _>(
        r,
        client::discovery::well_known_route,
    );
    r = ruma_route::<c::discovery::get_capabilities::v3::Request, _, _>(
        r,
        client::discovery::capabilities_route,
    );
    r = ruma_route::<c::session::get_login_types::v3::Request, _, _>(
        r,
        client::session::get_login_types_route,
    );
    r = ruma_route::<c::session::login::v3::Request, _, _>(r, client::session::login_route);
    r = ruma_route::<c::session::logout::v3::Request, _, _>(r, client::session::logout_route);
    r = ruma_route::<c::session::logout_all::v3::Request, _, _>(
        r,
        client::session::logout_all_route,
    );
    r = ruma_route::<c::account::whoami::v3::Request, _, _>(r, client::account::whoami_route);
    r = ruma_route::<c::account::register::v3::Request, _, _>(r, client::account::register_route);
    r = ruma_route::<c::account::get_username_availability::v3::Request, _, _>(
        r,
        client::account::register_available_route,
    );
    r = ruma_route::<c::account::change_password::v3::Request, _, _>(
        r,
        client::account::change_password_route,
    );
    r = ruma_route::<c::account::deactivate::v3::Request, _, _>(
        r,
        client::account::deactivate_route,
    );
    r = ruma_route::<c::device::get_devices::v3::Request, _, _>(
        r,
        client::device::get_devices_route,
    );
    r = ruma_route::<c::device::get_device::v3::Request, _, _>(r, client::device::get_device_route);
    r = ruma_route::<c::device::update_device::v3::Request, _, _>(
        r,
        client::device::update_device_route,
    );
    r = ruma_route::<c::device::delete_device::v3::Request, _, _>(
        r,
        client::device::delete_device_route,
    );
    r = ruma_route::<c::device::delete_devices::v3::Request, _, _>(
        r,
        client::device::delete_devices_route,
    );
    r = ruma_route::<c::profile::get_profile::v3::Request, _, _>(
        r,
        client::profile::get_profile_route,
    );
    r = ruma_route::<c::profile::get_profile_field::v3::Request, _, _>(
        r,
        client::profile::get_profile_field_route,
    );
    r = ruma_route::<c::profile::set_profile_field::v3::Request, _, _>(
        r,
        client::profile::set_profile_field_route,
    );
    r = ruma_route::<c::filter::create_filter::v3::Request, _, _>(
        r,
        client::filter::create_filter_route,
    );
    r = ruma_route::<c::filter::get_filter::v3::Request, _, _>(r, client::filter::get_filter_route);

    // Rooms, timelines and /sync (on the ledger).
    r = ruma_route::<c::room::create_room::v3::Request, _, _>(r, client::room::create_room_route);
    r = ruma_route::<c::room::get_room_event::v3::Request, _, _>(
        r,
        client::room::get_room_event_route,
    );
    r = ruma_route::<c::room::aliases::v3::Request, _, _>(r, client::room::room_aliases_route);
    r = ruma_route::<c::membership::join_room_by_id::v3::Request, _, _>(
        r,
        client::membership::join_room_by_id_route,
    );
    r = ruma_route::<c::membership::join_room_by_id_or_alias::v3::Request, _, _>(
        r,
        client::membership::join_room_by_id_or_alias_route,
    );
    r = ruma_route::<c::membership::invite_user::v3::Request, _, _>(
        r,
        client::membership::invite_user_route,
    );
    r = ruma_route::<c::membership::leave_room::v3::Request, _, _>(
        r,
        client::membership::leave_room_route,
    );
    r = ruma_route::<c::membership::forget_room::v3::Request, _, _>(
        r,
        client::membership::forget_room_route,
    );
    r = ruma_route::<c::membership::kick_user::v3::Request, _, _>(
        r,
        client::membership::kick_user_route,
    );
    r = ruma_route::<c::membership::ban_user::v3::Request, _, _>(
        r,
        client::membership::ban_user_route,
    );
    r = ruma_route::<c::membership::unban_user::v3::Request, _, _>(
        r,
        client::membership::unban_user_route,
    );
    r = ruma_route::<c::membership::joined_rooms::v3::Request, _, _>(
        r,
        client::membership::joined_rooms_route,
    );
    r = ruma_route::<c::membership::get_member_events::v3::Request, _, _>(
        r,
        client::membership::get_member_events_route,
    );
    r = ruma_route::<c::membership::joined_members::v3::Request, _, _>(
        r,
        client::membership::joined_members_route,
    );
    r = ruma_route::<c::state::get_state_events::v3::Request, _, _>(
        r,
        client::state::get_state_events_route,
    );
    r = ruma_route_empty_last::<c::state::get_state_event_for_key::v3::Request, _, _>(
        r,
        client::state::get_state_event_for_key_route,
    );
    r = ruma_route_empty_last::<c::state::send_state_event::v3::Request, _, _>(
        r,
        client::state::send_state_event_route,
    );
    r = ruma_route::<c::message::send_message_event::v3::Request, _, _>(
        r,
        client::message::send_message_event_route,
    );
    r = ruma_route::<c::message::get_message_events::v3::Request, _, _>(
        r,
        client::message::get_message_events_route,
    );
    r = ruma_route::<c::redact::redact_event::v3::Request, _, _>(
        r,
        client::message::redact_event_route,
    );
    r = ruma_route::<c::context::get_context::v3::Request, _, _>(
        r,
        client::message::get_context_route,
    );
    r = ruma_route::<c::alias::create_alias::v3::Request, _, _>(
        r,
        client::directory::create_alias_route,
    );
    r = ruma_route::<c::alias::get_alias::v3::Request, _, _>(r, client::directory::get_alias_route);
    r = ruma_route::<c::alias::delete_alias::v3::Request, _, _>(
        r,
        client::directory::delete_alias_route,
    );
    r = ruma_route::<c::directory::get_public_rooms::v3::Request, _, _>(
        r,
        client::directory::get_public_rooms_route,
    );
    r = ruma_route::<c::directory::get_public_rooms_filtered::v3::Request, _, _>(
        r,
        client::directory::get_public_rooms_filtered_route,
    );
    r = ruma_route::<c::directory::get_room_visibility::v3::Request, _, _>(
        r,
        client::directory::get_room_visibility_route,
    );
    r = ruma_route::<c::directory::set_room_visibility::v3::Request, _, _>(
        r,
        client::directory::set_room_visibility_route,
    );
    r = ruma_route::<c::user_directory::search_users::v3::Request, _, _>(
        r,
        client::user_directory::search_users_route,
    );
    r = ruma_route::<c::receipt::create_receipt::v3::Request, _, _>(
        r,
        client::receipt::create_receipt_route,
    );
    r = ruma_route::<c::read_marker::set_read_marker::v3::Request, _, _>(
        r,
        client::receipt::set_read_marker_route,
    );
    r = ruma_route::<c::typing::create_typing_event::v3::Request, _, _>(
        r,
        client::typing::create_typing_event_route,
    );
    r = ruma_route::<c::config::set_global_account_data::v3::Request, _, _>(
        r,
        client::config::set_global_account_data_route,
    );
    r = ruma_route::<c::config::get_global_account_data::v3::Request, _, _>(
        r,
        client::config::get_global_account_data_route,
    );
    r = ruma_route::<c::config::set_room_account_data::v3::Request, _, _>(
        r,
        client::config::set_room_account_data_route,
    );
    r = ruma_route::<c::config::get_room_account_data::v3::Request, _, _>(
        r,
        client::config::get_room_account_data_route,
    );
    r = ruma_route::<c::push::get_pushrules_all::v3::Request, _, _>(
        r,
        client::push::get_pushrules_all_route,
    );
    r = ruma_route::<c::push::get_pushrules_global_scope::v3::Request, _, _>(
        r,
        client::push::get_pushrules_global_route,
    );
    r = ruma_route::<c::push::get_pushrule::v3::Request, _, _>(r, client::push::get_pushrule_route);
    r = ruma_route::<c::push::set_pushrule::v3::Request, _, _>(r, client::push::set_pushrule_route);
    r = ruma_route::<c::push::delete_pushrule::v3::Request, _, _>(
        r,
        client::push::delete_pushrule_route,
    );
    r = ruma_route::<c::push::get_pushrule_enabled::v3::Request, _, _>(
        r,
        client::push::get_pushrule_enabled_route,
    );
    r = ruma_route::<c::push::set_pushrule_enabled::v3::Request, _, _>(
        r,
        client::push::set_pushrule_enabled_route,
    );
    r = ruma_route::<c::push::get_pushrule_actions::v3::Request, _, _>(
        r,
        client::push::get_pushrule_actions_route,
    );
    r = ruma_route::<c::push::set_pushrule_actions::v3::Request, _, _>(
        r,
        client::push::set_pushrule_actions_route,
    );
    r = ruma_route::<c::push::get_notifications::v3::Request, _, _>(
        r,
        client::push::get_notifications_route,
    );
    r = ruma_route::<c::presence::get_presence::v3::Request, _, _>(
        r,
        client::presence::get_presence_route,
    );
    r = ruma_route::<c::presence::set_presence::v3::Request, _, _>(
        r,
        client::presence::set_presence_route,
    );
    r = ruma_route::<c::sync::sync_events::v3::Request, _, _>(r, client::sync::sync_events_route);
    r = ruma_route::<c::keys::upload_keys::v3::Request, _, _>(r, client::keys::upload_keys_route);
    r = ruma_route::<c::tag::get_tags::v3::Request, _, _>(r, client::tag::get_tags_route);
    r = ruma_route::<c::tag::create_tag::v3::Request, _, _>(r, client::tag::create_tag_route);
    r = ruma_route::<c::tag::delete_tag::v3::Request, _, _>(r, client::tag::delete_tag_route);

    r = r
        .route(
            "/_synapse/admin/v2/users",
            get(admin::users::list_users_route),
        )
        .route(
            "/_synapse/admin/v2/users/{user}",
            get(admin::users::get_user_route).put(admin::users::put_user_route),
        )
        .route(
            "/_synapse/admin/v1/register",
            get(admin::register::get_nonce_route)
                .post(admin::register::shared_secret_register_route),
        )
        .route(
            "/_synapse/admin/v1/server_version",
            get(admin::server_version::server_version_route),
        );

    r.fallback(|| async { Error::unrecognized() })
        .method_not_allowed_fallback(|| async { Error::method_not_allowed() })
        .layer(cors())
        .with_state(state)
}

/// Web clients (Element Web) call from another origin.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("x-requested-with"),
        ])
}

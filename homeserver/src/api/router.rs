//! The one place where routes are registered: every ruma endpoint under all the paths of its
//! `Metadata` history (r0, v3, unstable aliases), the admin API, CORS, and Matrix errors for
//! unknown paths and methods.

use std::sync::Arc;

use axum::{
    Router,
    handler::Handler,
    routing::{MethodFilter, delete, get, on, post, put},
};
use http::{HeaderName, Method, header};
use ruma::api::{Metadata, client as c, path_builder::PathBuilder};
use tower_http::cors::{Any, CorsLayer};

use super::{admin, client, consort, media};
use crate::{error::Error, state::AppState};

type AppRouter = Router<Arc<AppState>>;

/// One Matrix endpoint as the router serves it, so that tests can walk every endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedEndpoint {
    /// Its HTTP method.
    pub method: Method,
    /// Its newest path (the stable `v3` one where there is one), with `{param}` segments.
    pub path: &'static str,
}

/// The router under construction, and the list of what it routes.
struct Routes {
    router: AppRouter,
    endpoints: Vec<RoutedEndpoint>,
}

impl Routes {
    /// Adds `handler` under every path `T`'s metadata knows, for `T`'s method.
    fn add<T, H, X>(&mut self, handler: H)
    where
        T: Metadata,
        H: Handler<X, Arc<AppState>>,
        X: 'static,
    {
        let Ok(filter) = MethodFilter::try_from(T::METHOD) else {
            tracing::error!(method = %T::METHOD, "endpoint with an unroutable method skipped");
            return;
        };
        let router = std::mem::take(&mut self.router);
        self.router = T::PATH_BUILDER.all_paths().fold(router, |router, path| {
            router.route(path, on(filter, handler.clone()))
        });
        if let Some(path) = T::PATH_BUILDER.all_paths().last() {
            self.endpoints.push(RoutedEndpoint {
                method: T::METHOD,
                path,
            });
        }
    }

    /// `add` plus the paths without the last segment (with and without a trailing slash), for
    /// endpoints whose last path parameter may be empty: `/state/{eventType}/` and
    /// `/state/{eventType}` mean the empty state key. The extractor fills in the missing value.
    fn add_empty_last<T, H, X>(&mut self, handler: H)
    where
        T: Metadata,
        H: Handler<X, Arc<AppState>>,
        X: 'static,
    {
        self.add::<T, H, X>(handler.clone());
        let Ok(filter) = MethodFilter::try_from(T::METHOD) else {
            return;
        };
        let router = std::mem::take(&mut self.router);
        self.router = T::PATH_BUILDER.all_paths().fold(router, |router, path| {
            let Some((prefix, _)) = path.rsplit_once('/') else {
                return router;
            };
            router
                .route(prefix, on(filter, handler.clone()))
                .route(&format!("{prefix}/"), on(filter, handler.clone()))
        });
    }
}

/// The whole HTTP surface of a node.
pub fn router(state: Arc<AppState>) -> Router {
    matrix_routes()
        .router
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
            "/_synapse/admin/v1/event_reports",
            get(admin::event_reports::list_route),
        )
        .route(
            "/_synapse/admin/v1/event_reports/{id}",
            get(admin::event_reports::get_route).delete(admin::event_reports::delete_route),
        )
        .route(
            "/_consort/admin/v1/policy/contacts",
            get(admin::org_policy::get_contacts_policy_route)
                .put(admin::org_policy::set_contacts_policy_route),
        )
        .route(
            "/_synapse/admin/v1/users/{user}/media",
            get(admin::media::user_media_route),
        )
        .route(
            "/_synapse/admin/v1/media/{server}/{id}",
            delete(admin::media::delete_media_route),
        )
        .route(media::gateway::PATH, get(media::gateway::block_route))
        .route(
            client::openid::USERINFO_PATH,
            get(client::openid::userinfo_route),
        )
        .route(
            "/_synapse/admin/v1/users/{user}/contacts",
            get(admin::contacts::user_contacts_route),
        )
        .route(
            "/_synapse/admin/v1/server_version",
            get(admin::server_version::server_version_route),
        )
        .route(
            client::mutual_rooms::PATH,
            get(client::mutual_rooms::mutual_rooms_route),
        )
        .route(
            client::relations::THREADS_PATH,
            get(client::relations::threads_route),
        )
        .route(
            client::mutual_rooms::STABLE_PATH,
            get(client::mutual_rooms::mutual_rooms_route),
        )
        .route(
            "/.well-known/matrix/support",
            get(client::unconfigured::not_published_route),
        )
        .route(
            "/.well-known/matrix/policy_server",
            get(client::unconfigured::not_published_route),
        )
        .route(
            "/_matrix/client/v1/appservice/{id}/ping",
            post(client::unconfigured::appservice_ping_route),
        )
        .route(
            "/_matrix/client/v3/directory/list/appservice/{network}/{room}",
            put(client::unconfigured::appservice_directory_route),
        )
        .route(
            "/_consort/v1/keys/history/{user}",
            get(consort::key_history::key_history_route),
        )
        .route(
            consort::event_proof::PATH,
            get(consort::event_proof::event_proof_route),
        )
        .route(
            consort::ledger_status::PATH,
            get(consort::ledger_status::ledger_status_route),
        )
        .route(
            consort::health::HEALTH_PATH,
            get(consort::health::health_route),
        )
        .route(
            consort::health::READY_PATH,
            get(consort::health::ready_route),
        )
        .nest(consort::contacts::PREFIX, contacts_routes())
        .route_layer(axum::middleware::from_fn(super::observe::remember_endpoint))
        .fallback(|| async { Error::unrecognized() })
        .method_not_allowed_fallback(|| async { Error::method_not_allowed() })
        .layer(cors())
        .layer(axum::middleware::from_fn(options_answer_json))
        .layer(axum::middleware::from_fn(close_after_unread_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::observe::observe,
        ))
        .with_state(state)
}

/// The contacts API (`api::consort::contacts`), relative to its prefix.
fn contacts_routes() -> axum::Router<Arc<AppState>> {
    use consort::contacts as c;
    axum::Router::new()
        .route("/requests", get(c::requests_route).post(c::request_route))
        .route("/requests/{user}/accept", post(c::accept_route))
        .route("/requests/{user}/decline", post(c::decline_route))
        .route("/contacts", get(c::contacts_route))
        .route("/contacts/{user}", delete(c::unbind_route))
}

/// `OPTIONS` (a CORS preflight, or a probe) answers `{}`, as Synapse does: every answer of a
/// Matrix homeserver is JSON.
async fn options_answer_json(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let options = request.method() == Method::OPTIONS;
    let response = next.run(request).await;
    if !options {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::from("{}"))
}

/// A body refused for its size is not read to its end, so the connection cannot carry another
/// request: say so (`Connection: close`), or a client that reuses it fails its next request
/// with a broken pipe.
async fn close_after_unread_body(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    if response.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    response
}

/// Every Matrix endpoint the node serves, in the order they are routed.
pub fn matrix_endpoints() -> Vec<RoutedEndpoint> {
    matrix_routes().endpoints
}

/// The Matrix client-server API: one line per endpoint.
fn matrix_routes() -> Routes {
    let mut r = Routes {
        router: AppRouter::new(),
        endpoints: Vec::new(),
    };
    r.add::<c::discovery::get_supported_versions::Request, _, _>(client::discovery::versions_route);
    r.add::<c::discovery::discover_homeserver::Request, _, _>(client::discovery::well_known_route);
    r.add::<c::discovery::get_capabilities::v3::Request, _, _>(
        client::discovery::capabilities_route,
    );
    r.add::<c::session::get_login_types::v3::Request, _, _>(client::session::get_login_types_route);
    r.add::<c::session::login::v3::Request, _, _>(client::session::login_route);
    r.add::<c::session::refresh_token::v3::Request, _, _>(client::session::refresh_route);
    r.add::<c::session::logout::v3::Request, _, _>(client::session::logout_route);
    r.add::<c::session::logout_all::v3::Request, _, _>(client::session::logout_all_route);
    r.add::<c::account::whoami::v3::Request, _, _>(client::account::whoami_route);
    r.add::<c::account::register::v3::Request, _, _>(client::account::register_route);
    r.add::<c::account::get_username_availability::v3::Request, _, _>(
        client::account::register_available_route,
    );
    r.add::<c::account::change_password::v3::Request, _, _>(client::account::change_password_route);
    r.add::<c::account::deactivate::v3::Request, _, _>(client::account::deactivate_route);
    {
        use client::third_party as t;
        use ruma::api::client::{account as a, thirdparty as p};
        r.add::<p::get_protocols::v3::Request, _, _>(t::protocols_route);
        r.add::<p::get_protocol::v3::Request, _, _>(t::protocol_route);
        r.add::<p::get_location_for_protocol::v3::Request, _, _>(t::location_for_protocol_route);
        r.add::<p::get_location_for_room_alias::v3::Request, _, _>(t::location_for_alias_route);
        r.add::<p::get_user_for_protocol::v3::Request, _, _>(t::user_for_protocol_route);
        r.add::<p::get_user_for_user_id::v3::Request, _, _>(t::user_for_user_id_route);
        r.add::<a::get_3pids::v3::Request, _, _>(t::threepids_route);
        r.add::<a::add_3pid::v3::Request, _, _>(t::add_threepid_route);
        r.add::<a::bind_3pid::v3::Request, _, _>(t::bind_threepid_route);
        r.add::<a::delete_3pid::v3::Request, _, _>(t::delete_threepid_route);
        r.add::<a::unbind_3pid::v3::Request, _, _>(t::unbind_threepid_route);
        r.add::<a::request_3pid_management_token_via_email::v3::Request, _, _>(
            t::threepid_email_token_route,
        );
        r.add::<a::request_3pid_management_token_via_msisdn::v3::Request, _, _>(
            t::threepid_msisdn_token_route,
        );
        r.add::<a::request_password_change_token_via_email::v3::Request, _, _>(
            t::password_email_token_route,
        );
        r.add::<a::request_password_change_token_via_msisdn::v3::Request, _, _>(
            t::password_msisdn_token_route,
        );
        r.add::<a::request_registration_token_via_email::v3::Request, _, _>(
            t::register_email_token_route,
        );
        r.add::<a::request_registration_token_via_msisdn::v3::Request, _, _>(
            t::register_msisdn_token_route,
        );
        r.add::<a::check_registration_token_validity::v1::Request, _, _>(
            t::registration_token_validity_route,
        );
        r.add::<ruma::api::client::voip::get_turn_server_info::v3::Request, _, _>(
            t::turn_server_route,
        );
        use client::report as rep;
        use ruma::api::client::{reporting, room as rm};
        r.add::<rm::report_content::v3::Request, _, _>(rep::report_event_route);
        r.add::<rm::report_room::v3::Request, _, _>(rep::report_room_route);
        r.add::<reporting::report_user::v3::Request, _, _>(rep::report_user_route);
    }
    r.add::<c::device::get_devices::v3::Request, _, _>(client::device::get_devices_route);
    r.add::<c::device::get_device::v3::Request, _, _>(client::device::get_device_route);
    r.add::<c::device::update_device::v3::Request, _, _>(client::device::update_device_route);
    r.add::<c::device::delete_device::v3::Request, _, _>(client::device::delete_device_route);
    r.add::<c::device::delete_devices::v3::Request, _, _>(client::device::delete_devices_route);
    r.add::<c::profile::get_profile::v3::Request, _, _>(client::profile::get_profile_route);
    r.add::<c::profile::get_profile_field::v3::Request, _, _>(
        client::profile::get_profile_field_route,
    );
    r.add::<c::profile::set_profile_field::v3::Request, _, _>(
        client::profile::set_profile_field_route,
    );
    r.add::<c::profile::delete_profile_field::v3::Request, _, _>(
        client::profile::delete_profile_field_route,
    );
    r.add::<c::admin::get_user_info::v3::Request, _, _>(client::whois::whois_route);
    r.add::<c::filter::create_filter::v3::Request, _, _>(client::filter::create_filter_route);
    r.add::<c::filter::get_filter::v3::Request, _, _>(client::filter::get_filter_route);

    // Rooms, timelines and /sync (on the ledger).
    r.add::<c::room::create_room::v3::Request, _, _>(client::room::create_room_route);
    r.add::<c::room::upgrade_room::v3::Request, _, _>(client::room::upgrade_room_route);
    r.add::<c::search::search_events::v3::Request, _, _>(client::search::search_route);
    r.add::<c::room::get_room_event::v3::Request, _, _>(client::room::get_room_event_route);
    r.add::<c::space::get_hierarchy::v1::Request, _, _>(client::space::hierarchy_route);
    r.add::<c::relations::get_relating_events::v1::Request, _, _>(
        client::relations::relations_route,
    );
    r.add::<c::relations::get_relating_events_with_rel_type::v1::Request, _, _>(
        client::relations::relations_of_type_route,
    );
    r.add::<c::relations::get_relating_events_with_rel_type_and_event_type::v1::Request, _, _>(
        client::relations::relations_of_type_and_event_type_route,
    );
    r.add::<c::room::get_summary::v1::Request, _, _>(client::space::room_summary_route);
    r.add::<c::admin::is_user_suspended::v1::Request, _, _>(client::restrict::is_suspended_route);
    r.add::<c::admin::suspend_user::v1::Request, _, _>(client::restrict::suspend_route);
    r.add::<c::admin::is_user_locked::v1::Request, _, _>(client::restrict::is_locked_route);
    r.add::<c::admin::lock_user::v1::Request, _, _>(client::restrict::lock_route);
    r.add::<c::peeking::get_current_state::v3::Request, _, _>(
        client::message::room_initial_sync_route,
    );
    r.add::<c::push::get_pushers::v3::Request, _, _>(client::pusher::get_pushers_route);
    r.add::<c::push::set_pusher::v3::Request, _, _>(client::pusher::set_pusher_route);
    r.add::<c::account::request_openid_token::v3::Request, _, _>(
        client::openid::request_token_route,
    );
    r.add::<c::room::get_event_by_timestamp::v1::Request, _, _>(
        client::timestamp::timestamp_to_event_route,
    );
    r.add::<c::room::aliases::v3::Request, _, _>(client::room::room_aliases_route);
    r.add::<c::membership::join_room_by_id::v3::Request, _, _>(
        client::membership::join_room_by_id_route,
    );
    r.add::<c::knock::knock_room::v3::Request, _, _>(client::membership::knock_route);
    r.add::<c::membership::join_room_by_id_or_alias::v3::Request, _, _>(
        client::membership::join_room_by_id_or_alias_route,
    );
    r.add::<c::membership::invite_user::v3::Request, _, _>(client::membership::invite_user_route);
    r.add::<c::membership::leave_room::v3::Request, _, _>(client::membership::leave_room_route);
    r.add::<c::membership::forget_room::v3::Request, _, _>(client::membership::forget_room_route);
    r.add::<c::membership::kick_user::v3::Request, _, _>(client::membership::kick_user_route);
    r.add::<c::membership::ban_user::v3::Request, _, _>(client::membership::ban_user_route);
    r.add::<c::membership::unban_user::v3::Request, _, _>(client::membership::unban_user_route);
    r.add::<c::membership::joined_rooms::v3::Request, _, _>(client::membership::joined_rooms_route);
    r.add::<c::membership::get_member_events::v3::Request, _, _>(
        client::membership::get_member_events_route,
    );
    r.add::<c::membership::joined_members::v3::Request, _, _>(
        client::membership::joined_members_route,
    );
    r.add::<c::state::get_state_events::v3::Request, _, _>(client::state::get_state_events_route);
    r.add_empty_last::<c::state::get_state_event_for_key::v3::Request, _, _>(
        client::state::get_state_event_for_key_route,
    );
    r.add_empty_last::<c::state::send_state_event::v3::Request, _, _>(
        client::state::send_state_event_route,
    );
    r.add::<c::message::send_message_event::v3::Request, _, _>(
        client::message::send_message_event_route,
    );
    r.add::<c::message::get_message_events::v3::Request, _, _>(
        client::message::get_message_events_route,
    );
    r.add::<c::redact::redact_event::v3::Request, _, _>(client::message::redact_event_route);
    r.add::<c::context::get_context::v3::Request, _, _>(client::message::get_context_route);
    r.add::<c::alias::create_alias::v3::Request, _, _>(client::directory::create_alias_route);
    r.add::<c::alias::get_alias::v3::Request, _, _>(client::directory::get_alias_route);
    r.add::<c::alias::delete_alias::v3::Request, _, _>(client::directory::delete_alias_route);
    r.add::<c::directory::get_public_rooms::v3::Request, _, _>(
        client::directory::get_public_rooms_route,
    );
    r.add::<c::directory::get_public_rooms_filtered::v3::Request, _, _>(
        client::directory::get_public_rooms_filtered_route,
    );
    r.add::<c::directory::get_room_visibility::v3::Request, _, _>(
        client::directory::get_room_visibility_route,
    );
    r.add::<c::directory::set_room_visibility::v3::Request, _, _>(
        client::directory::set_room_visibility_route,
    );
    r.add::<c::user_directory::search_users::v3::Request, _, _>(
        client::user_directory::search_users_route,
    );
    r.add::<c::receipt::create_receipt::v3::Request, _, _>(client::receipt::create_receipt_route);
    r.add::<c::read_marker::set_read_marker::v3::Request, _, _>(
        client::receipt::set_read_marker_route,
    );
    r.add::<c::typing::create_typing_event::v3::Request, _, _>(
        client::typing::create_typing_event_route,
    );
    r.add::<c::config::set_global_account_data::v3::Request, _, _>(
        client::config::set_global_account_data_route,
    );
    r.add::<c::config::get_global_account_data::v3::Request, _, _>(
        client::config::get_global_account_data_route,
    );
    r.add::<c::config::set_room_account_data::v3::Request, _, _>(
        client::config::set_room_account_data_route,
    );
    r.add::<c::config::get_room_account_data::v3::Request, _, _>(
        client::config::get_room_account_data_route,
    );
    r.add::<c::push::get_pushrules_all::v3::Request, _, _>(client::push::get_pushrules_all_route);
    r.add::<c::push::get_pushrules_global_scope::v3::Request, _, _>(
        client::push::get_pushrules_global_route,
    );
    r.add::<c::push::get_pushrule::v3::Request, _, _>(client::push::get_pushrule_route);
    r.add::<c::push::set_pushrule::v3::Request, _, _>(client::push::set_pushrule_route);
    r.add::<c::push::delete_pushrule::v3::Request, _, _>(client::push::delete_pushrule_route);
    r.add::<c::push::get_pushrule_enabled::v3::Request, _, _>(
        client::push::get_pushrule_enabled_route,
    );
    r.add::<c::push::set_pushrule_enabled::v3::Request, _, _>(
        client::push::set_pushrule_enabled_route,
    );
    r.add::<c::push::get_pushrule_actions::v3::Request, _, _>(
        client::push::get_pushrule_actions_route,
    );
    r.add::<c::push::set_pushrule_actions::v3::Request, _, _>(
        client::push::set_pushrule_actions_route,
    );
    r.add::<c::push::get_notifications::v3::Request, _, _>(client::push::get_notifications_route);
    r.add::<c::presence::get_presence::v3::Request, _, _>(client::presence::get_presence_route);
    r.add::<c::presence::set_presence::v3::Request, _, _>(client::presence::set_presence_route);
    r.add::<c::sync::sync_events::v3::Request, _, _>(client::sync::sync_events_route);
    r.add::<c::sync::sync_events::v5::Request, _, _>(client::sliding_sync::sliding_sync_route);
    r.add::<c::keys::upload_keys::v3::Request, _, _>(client::keys::upload_keys_route);
    r.add::<c::keys::get_keys::v3::Request, _, _>(client::keys::get_keys_route);
    r.add::<c::keys::claim_keys::v3::Request, _, _>(client::keys::claim_keys_route);
    r.add::<c::keys::get_key_changes::v3::Request, _, _>(client::keys::get_key_changes_route);
    r.add::<c::keys::upload_signing_keys::v3::Request, _, _>(
        client::keys::upload_signing_keys_route,
    );
    r.add::<c::keys::upload_signatures::v3::Request, _, _>(client::keys::upload_signatures_route);
    r.add::<c::backup::create_backup_version::v3::Request, _, _>(
        client::backup::create_backup_version_route,
    );
    r.add::<c::backup::get_latest_backup_info::v3::Request, _, _>(
        client::backup::get_latest_backup_info_route,
    );
    r.add::<c::backup::get_backup_info::v3::Request, _, _>(client::backup::get_backup_info_route);
    r.add::<c::backup::update_backup_version::v3::Request, _, _>(
        client::backup::update_backup_version_route,
    );
    r.add::<c::backup::delete_backup_version::v3::Request, _, _>(
        client::backup::delete_backup_version_route,
    );
    r.add::<c::backup::add_backup_keys::v3::Request, _, _>(client::backup::add_backup_keys_route);
    r.add::<c::backup::add_backup_keys_for_room::v3::Request, _, _>(
        client::backup::add_backup_keys_for_room_route,
    );
    r.add::<c::backup::add_backup_keys_for_session::v3::Request, _, _>(
        client::backup::add_backup_keys_for_session_route,
    );
    r.add::<c::backup::get_backup_keys::v3::Request, _, _>(client::backup::get_backup_keys_route);
    r.add::<c::backup::get_backup_keys_for_room::v3::Request, _, _>(
        client::backup::get_backup_keys_for_room_route,
    );
    r.add::<c::backup::get_backup_keys_for_session::v3::Request, _, _>(
        client::backup::get_backup_keys_for_session_route,
    );
    r.add::<c::backup::delete_backup_keys::v3::Request, _, _>(
        client::backup::delete_backup_keys_route,
    );
    r.add::<c::backup::delete_backup_keys_for_room::v3::Request, _, _>(
        client::backup::delete_backup_keys_for_room_route,
    );
    r.add::<c::backup::delete_backup_keys_for_session::v3::Request, _, _>(
        client::backup::delete_backup_keys_for_session_route,
    );
    r.add::<c::to_device::send_event_to_device::v3::Request, _, _>(
        client::to_device::send_to_device_route,
    );
    {
        use c::{authenticated_media as am, media as m};
        use media::{download as d, upload as u};
        r.add::<m::create_content::v3::Request, _, _>(u::upload_route);
        r.add::<m::create_mxc_uri::v1::Request, _, _>(u::create_route);
        r.add::<m::create_content_async::v3::Request, _, _>(u::upload_reserved_route);
        r.add::<am::get_content::v1::Request, _, _>(d::download_route);
        r.add::<am::get_content_as_filename::v1::Request, _, _>(d::download_as_route);
        r.add::<am::get_content_thumbnail::v1::Request, _, _>(d::thumbnail_route);
        r.add::<am::get_media_config::v1::Request, _, _>(d::config_route);
        r.add::<am::get_media_preview::v1::Request, _, _>(d::preview_route);
    }
    legacy_media_routes(&mut r);
    r.add::<c::tag::get_tags::v3::Request, _, _>(client::tag::get_tags_route);
    r.add::<c::tag::create_tag::v3::Request, _, _>(client::tag::create_tag_route);
    r.add::<c::tag::delete_tag::v3::Request, _, _>(client::tag::delete_tag_route);

    r
}

/// The deprecated unauthenticated media paths (ruma marks their types deprecated).
#[allow(deprecated)]
fn legacy_media_routes(r: &mut Routes) {
    use media::legacy as l;
    use ruma::api::client::media as m;
    r.add::<m::get_content::v3::Request, _, _>(l::legacy_download_route);
    r.add::<m::get_content_as_filename::v3::Request, _, _>(l::legacy_download_as_route);
    r.add::<m::get_content_thumbnail::v3::Request, _, _>(l::legacy_thumbnail_route);
    r.add::<m::get_media_config::v3::Request, _, _>(l::legacy_config_route);
    r.add::<m::get_media_preview::v3::Request, _, _>(l::legacy_preview_route);
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

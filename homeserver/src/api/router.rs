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

//! `PUT /_consort/admin/v1/policy/contacts` with `{"value": "cross_org" | "all" | "open"}`:
//! an admin of the organisation changes its contacts policy. It becomes an `OrgPolicy` record
//! signed by the organisation's node; every node applies it from that block on.

use axum::Json;
use axum::extract::State;
use consort_bridge::Record;
use consort_bridge::contacts::policy::{ContactsPolicy, POLICY_KEY, policy_of};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminSender;
use crate::api::client::AppStateRef;
use crate::api::json_body::JsonBody;
use crate::error::{Error, Result};

/// The body: the new value.
#[derive(Debug, Deserialize)]
pub struct SetPolicy {
    /// `cross_org`, `all` or `open`.
    pub value: String,
}

/// `PUT /_consort/admin/v1/policy/contacts`
pub async fn set_contacts_policy_route(
    State(state): AppStateRef,
    AdminSender(_admin): AdminSender,
    JsonBody(body): JsonBody<SetPolicy>,
) -> Result<Json<Value>> {
    if ContactsPolicy::parse(&body.value).is_none() {
        return Err(Error::invalid_param(format!(
            "`{}` is not a contacts policy: cross_org, all or open",
            body.value
        )));
    }
    let chain = state.chain()?;
    chain
        .submit_record(&Record::OrgPolicy {
            policy: POLICY_KEY.to_owned(),
            value: body.value.clone(),
        })
        .await?;
    Ok(Json(json!({ "contacts": body.value })))
}

/// `GET /_consort/admin/v1/policy/contacts`: the organisation's policy now.
pub async fn get_contacts_policy_route(
    State(state): AppStateRef,
    AdminSender(_admin): AdminSender,
) -> Result<Json<Value>> {
    let chain = state.chain()?;
    let mut conn = chain
        .pool()
        .acquire()
        .await
        .map_err(|e| Error::Internal(format!("policy: {e}")))?;
    let policy = policy_of(&mut conn, chain.genesis(), chain.org())
        .await
        .map_err(|e| Error::Internal(format!("policy: {e}")))?;
    Ok(Json(json!({ "contacts": policy.as_str() })))
}

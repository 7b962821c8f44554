//! User-interactive authentication (UIAA): the challenge/response dance of `/register`
//! (`m.login.dummy`, `m.login.registration_token`) and of sensitive account operations
//! (`m.login.password`).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use http::StatusCode;
use ruma::api::{
    client::uiaa::{AuthData, AuthFlow, AuthType, UiaaInfo, UserIdentifier},
    error::{ErrorKind, StandardErrorBody},
};

use crate::{
    error::{Error, Result},
    services::{accounts, auth::Sender, credentials},
    state::AppState,
    storage::users,
};

/// How long a UIAA session lives.
const SESSION_TTL: Duration = Duration::from_secs(15 * 60);

/// Open UIAA sessions and the stages each has completed.
#[derive(Debug, Default)]
pub struct UiaaSessions {
    sessions: Mutex<HashMap<String, Session>>,
}

#[derive(Debug)]
struct Session {
    completed: Vec<AuthType>,
    created: Instant,
}

impl UiaaSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new challenge for `flows`, with a fresh session (or the client's, to keep progress).
    fn challenge(
        &self,
        flows: &[Vec<AuthType>],
        session: Option<&str>,
        error: Option<StandardErrorBody>,
    ) -> Error {
        let mut sessions = self.lock();
        sessions.retain(|_, s| s.created.elapsed() < SESSION_TTL);
        let id = match session.filter(|s| sessions.contains_key(*s)) {
            Some(id) => id.to_owned(),
            None => {
                let id = credentials::random_urlsafe(18);
                sessions.insert(
                    id.clone(),
                    Session {
                        completed: Vec::new(),
                        created: Instant::now(),
                    },
                );
                id
            }
        };
        let completed = sessions
            .get(&id)
            .map(|s| s.completed.clone())
            .unwrap_or_default();
        let mut info = UiaaInfo::new(flows.iter().cloned().map(AuthFlow::new).collect());
        info.session = Some(id);
        info.completed = completed;
        info.auth_error = error;
        Error::Uiaa(Box::new(info))
    }

    /// Records a completed stage and says whether some flow is now complete.
    fn complete(&self, flows: &[Vec<AuthType>], session: Option<&str>, stage: AuthType) -> bool {
        let mut sessions = self.lock();
        let mut completed = session
            .and_then(|id| sessions.get(id))
            .map(|s| s.completed.clone())
            .unwrap_or_default();
        if !completed.contains(&stage) {
            completed.push(stage);
        }
        let done = flows
            .iter()
            .any(|flow| flow.iter().all(|stage| completed.contains(stage)));
        match session {
            Some(id) if done => {
                sessions.remove(id);
            }
            Some(id) => {
                if let Some(s) = sessions.get_mut(id) {
                    s.completed = completed;
                }
            }
            None => {}
        }
        done
    }
}

fn auth_error(kind: ErrorKind, message: &str) -> Option<StandardErrorBody> {
    Some(StandardErrorBody::new(kind, message.to_owned()))
}

/// The flows `/register` offers under the current configuration.
pub fn register_flows(state: &AppState) -> Vec<Vec<AuthType>> {
    if state.config.registration_tokens.is_empty() {
        vec![vec![AuthType::Dummy]]
    } else {
        vec![vec![AuthType::RegistrationToken]]
    }
}

/// Passes when `auth` completes a registration flow; otherwise answers the 401 challenge.
pub fn check_register(state: &AppState, auth: Option<&AuthData>) -> Result<()> {
    let flows = register_flows(state);
    let Some(auth) = auth else {
        return Err(state.uiaa.challenge(&flows, None, None));
    };
    let session = auth.session();
    let stage = match auth {
        AuthData::Dummy(_) => AuthType::Dummy,
        AuthData::RegistrationToken(t) => {
            if !state.config.registration_tokens.contains(&t.token) {
                return Err(state.uiaa.challenge(
                    &flows,
                    session,
                    auth_error(ErrorKind::Unauthorized, "Invalid registration token"),
                ));
            }
            AuthType::RegistrationToken
        }
        _ => {
            return Err(state.uiaa.challenge(
                &flows,
                session,
                auth_error(ErrorKind::Unrecognized, "Unsupported authentication type"),
            ));
        }
    };
    if state.uiaa.complete(&flows, session, stage) {
        Ok(())
    } else {
        Err(state.uiaa.challenge(&flows, session, None))
    }
}

/// Passes when `auth` proves the sender knows their password; otherwise answers the challenge.
pub async fn check_password(
    state: &AppState,
    sender: &Sender,
    auth: Option<&AuthData>,
) -> Result<()> {
    let flows = vec![vec![AuthType::Password]];
    let Some(auth) = auth else {
        return Err(state.uiaa.challenge(&flows, None, None));
    };
    let session = auth.session();
    let AuthData::Password(password) = auth else {
        return Err(state.uiaa.challenge(
            &flows,
            session,
            auth_error(ErrorKind::Unrecognized, "Unsupported authentication type"),
        ));
    };
    let claimed = match &password.identifier {
        UserIdentifier::Matrix(id) => accounts::resolve_login_user(state, &id.user).ok(),
        _ => None,
    };
    if claimed.as_deref() != Some(sender.user_id.as_ref()) {
        return Err(state.uiaa.challenge(
            &flows,
            session,
            auth_error(ErrorKind::Forbidden, "Invalid password"),
        ));
    }
    let hash = users::get(&state.db.pool, sender.user_id.as_str())
        .await?
        .and_then(|u| u.password_hash);
    let ok = match hash {
        Some(hash) => credentials::verify_password(password.password.clone(), hash).await?,
        None => false,
    };
    if !ok {
        return Err(state.uiaa.challenge(
            &flows,
            session,
            auth_error(ErrorKind::Forbidden, "Invalid password"),
        ));
    }
    if state.uiaa.complete(&flows, session, AuthType::Password) {
        Ok(())
    } else {
        Err(Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Unknown,
            "password flow incomplete",
        ))
    }
}

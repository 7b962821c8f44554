//! A minimal Matrix client over raw HTTP (client-server API v3): just the calls the workloads
//! make, each answering the server's error as an [`ApiError`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

/// Upper bound of any one request; long-polling `/sync` waits at most 30 s of it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A failed request: the HTTP status and Matrix `errcode` if the server answered, else the
/// transport error.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status, `None` when no answer arrived.
    pub status: Option<StatusCode>,
    /// Matrix `errcode`, if the body had one.
    pub errcode: Option<String>,
    /// Human-readable detail.
    pub message: String,
}

impl ApiError {
    /// A short key for counting errors by kind, e.g. `429 M_LIMIT_EXCEEDED` or `transport`.
    pub fn kind(&self) -> String {
        match (&self.status, &self.errcode) {
            (Some(s), Some(code)) => format!("{} {code}", s.as_u16()),
            (Some(s), None) => s.as_u16().to_string(),
            (None, _) => "transport".to_owned(),
        }
    }

    fn transport(e: reqwest::Error) -> Self {
        Self {
            status: None,
            errcode: None,
            message: e.to_string(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message)
    }
}

impl std::error::Error for ApiError {}

/// A logged-in user of one server.
pub struct Session {
    http: reqwest::Client,
    base: Url,
    /// The full user id the server assigned.
    pub user_id: String,
    token: String,
    txn: AtomicU64,
}

/// Registers `username` on `base` through user-interactive auth with `m.login.dummy` (the first
/// call fetches the UIA session) and returns the logged-in session.
pub async fn register(base: &Url, username: &str, password: &str) -> Result<Session, ApiError> {
    let http = new_http()?;
    let url = endpoint(base, &["register"]);
    let mut body = json!({
        "username": username,
        "password": password,
        "initial_device_display_name": "cs-api-bench",
    });
    let first = http.post(url.clone()).json(&body).send().await;
    let first = first.map_err(ApiError::transport)?;
    let status = first.status();
    let first: Value = first.json().await.map_err(ApiError::transport)?;
    let answer = if status == StatusCode::UNAUTHORIZED && first.get("flows").is_some() {
        let mut auth = json!({"type": "m.login.dummy"});
        if let Some(session) = first.get("session") {
            auth["session"] = session.clone();
        }
        body["auth"] = auth;
        let second = http.post(url).json(&body).send().await;
        read_json(second.map_err(ApiError::transport)?).await?
    } else if status.is_success() {
        first
    } else {
        return Err(error_from(status, &first));
    };
    let field = |name: &str| {
        answer[name].as_str().map(str::to_owned).ok_or(ApiError {
            status: Some(StatusCode::OK),
            errcode: None,
            message: format!("/register answered without {name}: {answer}"),
        })
    };
    Ok(Session {
        user_id: field("user_id")?,
        token: field("access_token")?,
        http,
        base: base.clone(),
        txn: AtomicU64::new(0),
    })
}

impl Session {
    /// `POST /createRoom` with the `public_chat` preset (anyone may join by id) and the server's
    /// default room version; the new room's id.
    pub async fn create_room(&self, name: &str) -> Result<String, ApiError> {
        let body = json!({"preset": "public_chat", "name": name});
        let answer = self
            .call(Method::POST, &["createRoom"], Some(&body), &[])
            .await?;
        string_field(&answer, "room_id", "/createRoom")
    }

    /// `POST /join/{roomId}`.
    pub async fn join(&self, room_id: &str) -> Result<(), ApiError> {
        self.call(Method::POST, &["join", room_id], Some(&json!({})), &[])
            .await
            .map(drop)
    }

    /// `PUT /rooms/{roomId}/send/m.room.message/{txnId}` with a text body and a transaction id
    /// unique to this session; the event id.
    pub async fn send_text(&self, room_id: &str, body: &str) -> Result<String, ApiError> {
        let txn = format!("b{}", self.txn.fetch_add(1, Ordering::Relaxed));
        let content = json!({"msgtype": "m.text", "body": body});
        let path = ["rooms", room_id, "send", "m.room.message", &txn];
        let answer = self.call(Method::PUT, &path, Some(&content), &[]).await?;
        string_field(&answer, "event_id", "/send")
    }

    /// `GET /sync` (long-polling up to `timeout_ms` when `since` is given); the answer and the
    /// moment its body had fully arrived.
    pub async fn sync(
        &self,
        since: Option<&str>,
        timeout_ms: u64,
    ) -> Result<(Value, Instant), ApiError> {
        let timeout = timeout_ms.to_string();
        let mut query = vec![("timeout", timeout.as_str())];
        if let Some(since) = since {
            query.push(("since", since));
        }
        self.get_sync(&query).await
    }

    /// `GET /sync` without `since` and with an inline `filter`; the answer and the moment
    /// its body had fully arrived.
    pub async fn initial_sync(&self, filter: &str) -> Result<(Value, Instant), ApiError> {
        self.get_sync(&[("timeout", "0"), ("filter", filter)]).await
    }

    async fn get_sync(&self, query: &[(&str, &str)]) -> Result<(Value, Instant), ApiError> {
        let response = self
            .http
            .get(self.url(&["sync"], query))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(ApiError::transport)?;
        timed_json(response, "/sync").await
    }

    /// `POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync` (MSC4186) with
    /// `body`, from `pos` (long-polling up to `timeout_ms` when given); the answer and the
    /// moment its body had fully arrived.
    pub async fn sliding_sync(
        &self,
        pos: Option<&str>,
        timeout_ms: u64,
        body: &Value,
    ) -> Result<(Value, Instant), ApiError> {
        let mut url = self.base.clone();
        url.set_query(None);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend([
                "_matrix",
                "client",
                "unstable",
                "org.matrix.simplified_msc3575",
                "sync",
            ]);
        }
        if let Some(pos) = pos {
            url.query_pairs_mut()
                .append_pair("pos", pos)
                .append_pair("timeout", &timeout_ms.to_string());
        }
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(ApiError::transport)?;
        timed_json(response, "sliding sync").await
    }

    /// `POST /_matrix/media/v3/upload` of `file`; the `mxc://` URI.
    pub async fn upload(&self, file: Vec<u8>) -> Result<String, ApiError> {
        let mut url = self.base.clone();
        url.set_path("/_matrix/media/v3/upload");
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .header("content-type", "application/octet-stream")
            .body(file)
            .send()
            .await
            .map_err(ApiError::transport)?;
        let answer = read_json(response).await?;
        string_field(&answer, "content_uri", "/upload")
    }

    /// `GET /_matrix/client/v1/media/download/{server}/{id}` (authenticated media); the time
    /// to the first byte of the body, to its last, and its length.
    pub async fn download(&self, mxc: &str) -> Result<(Duration, Duration, usize), ApiError> {
        let Some((server, id)) = mxc.strip_prefix("mxc://").and_then(|r| r.split_once('/')) else {
            return Err(ApiError {
                status: None,
                errcode: None,
                message: format!("{mxc} is not an mxc URI"),
            });
        };
        let mut url = self.base.clone();
        url.set_path(&format!("/_matrix/client/v1/media/download/{server}/{id}"));
        let started = Instant::now();
        let mut response = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(ApiError::transport)?;
        let status = response.status();
        if !status.is_success() {
            let value = response.json().await.unwrap_or(Value::Null);
            return Err(error_from(status, &value));
        }
        let mut first = None;
        let mut len = 0;
        while let Some(chunk) = response.chunk().await.map_err(ApiError::transport)? {
            first.get_or_insert_with(|| started.elapsed());
            len += chunk.len();
        }
        let total = started.elapsed();
        Ok((first.unwrap_or(total), total, len))
    }

    async fn call(
        &self,
        method: Method,
        path: &[&str],
        body: Option<&Value>,
        query: &[(&str, &str)],
    ) -> Result<Value, ApiError> {
        let mut request = self
            .http
            .request(method, self.url(path, query))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        read_json(request.send().await.map_err(ApiError::transport)?).await
    }

    fn url(&self, path: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = endpoint(&self.base, path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }
}

fn new_http() -> Result<reqwest::Client, ApiError> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(ApiError::transport)
}

/// `base` + `/_matrix/client/v3/` + `path`, each segment percent-encoded.
fn endpoint(base: &Url, path: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .extend(["_matrix", "client", "v3"])
            .extend(path);
    }
    url
}

/// A sync answer's JSON and the moment its body had fully arrived.
async fn timed_json(response: reqwest::Response, what: &str) -> Result<(Value, Instant), ApiError> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(ApiError::transport)?;
    let arrived = Instant::now();
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError {
        status: Some(status),
        errcode: None,
        message: format!("{what} answered no JSON: {e}"),
    })?;
    if !status.is_success() {
        return Err(error_from(status, &value));
    }
    Ok((value, arrived))
}

async fn read_json(response: reqwest::Response) -> Result<Value, ApiError> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(ApiError::transport)?;
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        Ok(value)
    } else {
        Err(error_from(status, &value))
    }
}

fn error_from(status: StatusCode, body: &Value) -> ApiError {
    ApiError {
        status: Some(status),
        errcode: body["errcode"].as_str().map(str::to_owned),
        message: body["error"]
            .as_str()
            .map_or_else(|| body.to_string(), str::to_owned),
    }
}

fn string_field(answer: &Value, name: &str, call: &str) -> Result<String, ApiError> {
    answer[name].as_str().map(str::to_owned).ok_or(ApiError {
        status: Some(StatusCode::OK),
        errcode: None,
        message: format!("{call} answered without {name}: {answer}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded_under_the_v3_prefix() {
        let base = Url::parse("http://127.0.0.1:8008").unwrap();
        let url = endpoint(&base, &["rooms", "!a/b:x", "send", "m.room.message", "t 1"]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8008/_matrix/client/v3/rooms/!a%2Fb:x/send/m.room.message/t%201"
        );
        let prefixed = Url::parse("http://h/matrix/").unwrap();
        assert_eq!(
            endpoint(&prefixed, &["sync"]).as_str(),
            "http://h/matrix/_matrix/client/v3/sync"
        );
    }

    #[test]
    fn errors_are_counted_by_status_and_errcode() {
        let e = error_from(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"errcode": "M_LIMIT_EXCEEDED", "error": "slow down"}),
        );
        assert_eq!(e.kind(), "429 M_LIMIT_EXCEEDED");
        assert_eq!(e.to_string(), "429 M_LIMIT_EXCEEDED: slow down");
    }
}

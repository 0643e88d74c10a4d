//! Graph's error JSON parsed into a typed error, and transport failures.

use serde_json::Value;
use std::time::Duration;

/// The reason phrase of a status code (`OK`, `Not Found`, ...).
pub fn reason_phrase(code: u16) -> &'static str {
    reqwest::StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("")
}

/// An error answer from Graph: `{"error": {"code", "message", "innerError": {...}}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceError {
    /// HTTP status.
    pub status: u16,
    /// Graph's `error.code` (branch on this, never on the message).
    pub code: String,
    /// Graph's `error.message`.
    pub message: String,
    /// `innerError.request-id`, else the `request-id` header.
    pub request_id: Option<String>,
    /// `innerError.client-request-id`, else the `client-request-id` header.
    pub client_request_id: Option<String>,
    /// `innerError.date`, else the `Date` header.
    pub date: Option<String>,
    /// The JSON document Intune nests inside `message`, when there is one.
    pub nested: Option<Value>,
}

impl std::fmt::Display for ServiceError {
    /// `404 ResourceNotFound: message (request-id: ..., date: ...)`: what support asks for.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)?;
        match (&self.request_id, &self.date) {
            (Some(id), Some(date)) => write!(f, " (request-id: {id}, date: {date})"),
            (Some(id), None) => write!(f, " (request-id: {id})"),
            _ => Ok(()),
        }
    }
}

impl ServiceError {
    /// Parses an error response. A body that is not Graph's error shape still gives a usable
    /// error: the code becomes the status and the message the start of the body.
    pub fn from_response(status: u16, headers: &[(String, String)], body: &str) -> ServiceError {
        let header =
            |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let doc: Option<Value> = serde_json::from_str(body).ok();
        let error = doc.as_ref().and_then(|d| d.get("error"));
        let text = |v: Option<&Value>, key: &str| {
            v.and_then(|e| e.get(key)).and_then(Value::as_str).map(String::from)
        };
        let inner = error.and_then(|e| e.get("innerError").or_else(|| e.get("innererror")));
        let code = text(error, "code").unwrap_or_else(|| format!("HTTP {status}"));
        let message = text(error, "message").unwrap_or_else(|| {
            let snippet: String = body.chars().take(300).collect();
            if snippet.is_empty() { reason_phrase(status).to_string() } else { snippet }
        });
        let nested = nested_document(&message);
        ServiceError {
            status,
            code,
            request_id: text(inner, "request-id").or_else(|| header("request-id")),
            client_request_id: text(inner, "client-request-id").or_else(|| header("client-request-id")),
            date: text(inner, "date").or_else(|| header("date")),
            message,
            nested,
        }
    }

    /// True for the live service's refusal of PATCH on imported identities (spec section 2).
    pub fn is_patch_route_missing(&self) -> bool {
        self.code == "No method match route template"
    }
}

/// Finds a JSON object inside an Intune error message (`{"_version":3,"Message":...}` or
/// `Some text: {...}`).
pub fn nested_document(message: &str) -> Option<Value> {
    let start = message.find('{')?;
    let end = message.rfind('}')?;
    let candidate = message.get(start..=end)?;
    match serde_json::from_str::<Value>(candidate) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// Everything that can go wrong with a Graph call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with an error status.
    #[error("{}", .0)]
    Service(Box<ServiceError>),
    /// No answer: the connection was reset or closed, TLS failed.
    #[error("network error: {0}")]
    Transport(String),
    /// No connection could be made: refused, no such host.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// No answer in time.
    #[error("no answer within {} s", .0.as_secs_f32())]
    Timeout(Duration),
    /// An answer this client cannot read (not JSON, wrong shape).
    #[error("unreadable answer: {0}")]
    Decode(String),
    /// The server handed back a next link already followed; stopping to avoid an endless loop.
    #[error("the server returned a next link that was already followed: {0}")]
    RepeatedNextLink(String),
    /// A write refused locally because the app runs read-only.
    #[error("read-only mode: {0} was not sent")]
    ReadOnly(String),
    /// No token could be had (sign-in or renewal failed).
    #[error("{0}")]
    Auth(crate::graph::auth::AuthError),
    /// A URL that cannot be built or parsed.
    #[error("invalid URL: {0}")]
    Url(String),
    /// A request that could not be built here (nothing was sent, so it is not retried).
    #[error("the request was not sent: {0}")]
    Request(String),
    /// A device id that cannot stand as one URL path segment (`.`, `..`, empty).
    #[error("device id {0:?} cannot be used in a URL; nothing was sent")]
    InvalidId(String),
    /// The server pointed the client at another origin (a next link): not followed, so the
    /// token stays with the origin it was given for.
    #[error(
        "the server sent a link to {link_origin}, which is not {origin}; not followed, so the token is not sent there"
    )]
    ForeignOrigin {
        /// `scheme://host:port` of the link.
        link_origin: String,
        /// `scheme://host:port` of the base URL.
        origin: String,
    },
    /// A write answered with a redirect: writes never follow one, so nothing was confirmed.
    #[error(
        "the server answered the {method} with {status} (a redirect{}); writes never follow redirects, so the change is not confirmed saved",
        location.as_deref().map(|l| format!(" to {l}")).unwrap_or_default()
    )]
    Redirected {
        /// The write's method.
        method: String,
        /// The 3xx status.
        status: u16,
        /// Where the server pointed, if it said.
        location: Option<String>,
    },
    /// An answer larger than the client accepts.
    #[error("the answer is larger than the limit of {limit} bytes (see --max-response-mib); it was not read")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// A listing that would not end (too many pages, or only empty pages).
    #[error("the listing was stopped: {0}")]
    EndlessListing(String),
    /// The record could not be read again before a write (to check that nobody else changed
    /// it): nothing was written.
    #[error("reading the record again before writing failed, so nothing was sent: {0}")]
    Reread(Box<GraphError>),
    /// A write was refused with 412 every time it was checked again.
    #[error(
        "the record kept changing while it was saved ({0} times 412 Precondition Failed); nothing more was sent"
    )]
    KeptChanging(usize),
}

impl GraphError {
    /// The service error, when Graph answered with one.
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            GraphError::Service(e) => Some(e),
            GraphError::Reread(e) => e.service(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_graph_error_with_nested_intune_document() {
        let body = r#"{"error":{"code":"BadRequest","message":"{\r\n  \"_version\": 3,\r\n  \"Message\": \"An error has occurred - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - Activity ID: 7f0b - Url: https://fef.msub02.manage.microsoft.com/x\",\r\n  \"CustomApiErrorPhrase\": \"\",\r\n  \"RetryAfter\": null,\r\n  \"ErrorSourceService\": \"\",\r\n  \"HttpHeaders\": \"{}\"\r\n}","innerError":{"date":"2026-11-28T10:00:00","request-id":"r1","client-request-id":"c1"}}}"#;
        let e = ServiceError::from_response(400, &[], body);
        assert_eq!(e.code, "BadRequest");
        assert_eq!(e.request_id.as_deref(), Some("r1"));
        assert_eq!(e.client_request_id.as_deref(), Some("c1"));
        assert_eq!(e.date.as_deref(), Some("2026-11-28T10:00:00"));
        assert_eq!(e.nested.as_ref().and_then(|n| n["_version"].as_i64()), Some(3));
    }

    #[test]
    fn non_graph_body_still_gives_an_error() {
        let headers = vec![("request-id".to_string(), "h1".to_string())];
        let e = ServiceError::from_response(502, &headers, "<html>Bad gateway</html>");
        assert_eq!(e.code, "HTTP 502");
        assert_eq!(e.message, "<html>Bad gateway</html>");
        assert_eq!(e.request_id.as_deref(), Some("h1"));
        assert!(e.nested.is_none());
    }

    #[test]
    fn live_patch_refusal_is_recognised() {
        let body = r#"{"error":{"code":"No method match route template","message":"No OData route exists that match template ~/singleton/navigation/key with http verb PATCH for request /x."}}"#;
        assert!(ServiceError::from_response(400, &[], body).is_patch_route_missing());
    }
}

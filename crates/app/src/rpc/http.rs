//! What the server does with an HTTP request before JSON-RPC sees it.
//!
//! jsonrpsee answers most bad requests as JSON-RPC 2.0 says, with two gaps this layer closes:
//!
//! - **A body that never ends.** The server reads a request body for as long as the client
//!   keeps the connection open. Here the whole body must arrive within
//!   [`RpcLimits::body_deadline`](super::server::RpcLimits); a client that stalls gets HTTP 408
//!   with a JSON-RPC error, and its connection is closed.
//! - **An id of the wrong type.** JSON-RPC allows a string, a number or null as a request's
//!   `id`; jsonrpsee reads an object, an array, a boolean or a fraction as no id at all, takes
//!   the request for a notification and answers `null`. Here such a request gets the error
//!   `-32600` (invalid request) with id `null`. In a batch, one such element refuses the
//!   whole batch, with the element's position in the error's `data`.
//!
//! WebSocket upgrades and other non-POST requests pass through untouched.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt as _;
use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The layer, for `ServerBuilder::set_http_middleware`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GateLayer {
    /// How long a client has to send its whole body.
    pub(crate) body_deadline: Duration,
    /// The largest body, in bytes (the server's own limit, checked here as the body arrives).
    pub(crate) max_body: usize,
    /// Whether `GET /` serves the explorer.
    pub(crate) explorer: bool,
}

impl<S> tower::Layer<S> for GateLayer {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Gate<S> {
        Gate {
            inner,
            limits: *self,
        }
    }
}

/// The service [`GateLayer`] wraps around the JSON-RPC server.
#[derive(Debug, Clone)]
pub(crate) struct Gate<S> {
    inner: S,
    limits: GateLayer,
}

type Answer = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

impl<S> tower::Service<HttpRequest> for Gate<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest) -> Answer {
        if request.method() != http::Method::POST {
            let upgrade = request.headers().contains_key(http::header::UPGRADE);
            if self.limits.explorer && request.method() == http::Method::GET && !upgrade {
                let host = request
                    .headers()
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("127.0.0.1");
                if let Some(page) = crate::explorer::respond(request.uri().path(), host) {
                    return Box::pin(async move { Ok(page) });
                }
            }
            let answer = self.inner.call(request);
            return Box::pin(answer);
        }
        // The clone is ready only if polled; take the one that was, leave the clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limits = self.limits;
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let declared = parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|len| len > limits.max_body as u64) {
                return Ok(too_large(limits.max_body));
            }
            let limited = http_body_util::Limited::new(body, limits.max_body);
            let bytes = match tokio::time::timeout(limits.body_deadline, limited.collect()).await {
                Err(_) => {
                    return Ok(refusal(
                        http::StatusCode::REQUEST_TIMEOUT,
                        -32600,
                        &format!(
                            "the request body did not arrive within {} s",
                            limits.body_deadline.as_secs_f64()
                        ),
                        None,
                    ))
                }
                Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
                    return Ok(too_large(limits.max_body))
                }
                Ok(Err(error)) => return Err(error),
                Ok(Ok(collected)) => collected.to_bytes(),
            };
            if let Some(detail) = bad_id(&bytes) {
                return Ok(refusal(
                    http::StatusCode::OK,
                    -32600,
                    "Invalid request",
                    Some(&detail),
                ));
            }
            inner
                .call(HttpRequest::from_parts(
                    parts,
                    HttpBody::from(bytes.to_vec()),
                ))
                .await
        })
    }
}

/// What is wrong with a request's id, if anything. Bodies that are not JSON, or not
/// requests, are left to the server, which answers them itself.
pub(crate) fn bad_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        id: Option<&'a RawValue>,
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first == b'[' {
        let batch: Vec<Probe<'_>> = serde_json::from_slice(body).ok()?;
        return batch.iter().enumerate().find_map(|(i, p)| {
            p.id.and_then(|id| wrong_id(id.get()))
                .map(|why| format!("batch element {i}: {why}"))
        });
    }
    let probe: Probe<'_> = serde_json::from_slice(body).ok()?;
    probe.id.and_then(|id| wrong_id(id.get()))
}

/// Why `id` (raw JSON) cannot be a request id: a string, a non-negative integer or null are
/// the ids this server can echo.
fn wrong_id(id: &str) -> Option<String> {
    match id.as_bytes().first() {
        Some(b'"') => None,
        Some(b'n') if id == "null" => None,
        Some(b'0'..=b'9')
            if id.bytes().all(|b| b.is_ascii_digit()) && id.parse::<u64>().is_ok() =>
        {
            None
        }
        _ => {
            let shown: String = id.chars().take(40).collect();
            Some(format!(
                "the id {shown} is not a string, an unsigned integer or null"
            ))
        }
    }
}

/// HTTP 413 with jsonrpsee's own JSON-RPC error for a body over the limit.
fn too_large(max_body: usize) -> HttpResponse {
    jsonrpsee::server::http::response::too_large(u32::try_from(max_body).unwrap_or(u32::MAX))
}

/// A JSON-RPC error answer with id `null`.
fn refusal(status: http::StatusCode, code: i32, message: &str, data: Option<&str>) -> HttpResponse {
    let mut error = serde_json::json!({ "code": code, "message": message });
    if let Some(data) = data {
        error["data"] = serde_json::Value::from(data);
    }
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": null, "error": error });
    let mut response = HttpResponse::new(HttpBody::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if status == http::StatusCode::REQUEST_TIMEOUT {
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::BodyExt as _;
    use jsonrpsee::core::BoxError;
    use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
    use tower::{Layer as _, Service as _};

    use super::{bad_id, GateLayer};

    /// Answers with the body it was given.
    #[derive(Clone)]
    struct Echo;

    impl tower::Service<HttpRequest> for Echo {
        type Response = HttpResponse;
        type Error = BoxError;
        type Future = super::Answer;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), BoxError>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: HttpRequest) -> super::Answer {
            Box::pin(async move {
                let body = request.into_body().collect().await?.to_bytes();
                Ok(HttpResponse::new(HttpBody::from(body.to_vec())))
            })
        }
    }

    async fn answer(body: HttpBody, declared: Option<usize>) -> (u16, String) {
        let mut gate = GateLayer {
            body_deadline: Duration::from_millis(200),
            max_body: 64,
            explorer: false,
        }
        .layer(Echo);
        let mut request = HttpRequest::new(body);
        *request.method_mut() = http::Method::POST;
        if let Some(len) = declared {
            request
                .headers_mut()
                .insert(http::header::CONTENT_LENGTH, len.into());
        }
        let response = gate.call(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_body_that_stalls_is_answered_408_at_the_deadline() {
        let (mut sender, body) = http_body_util::channel::Channel::<bytes::Bytes, BoxError>::new(1);
        sender
            .send_data(bytes::Bytes::from_static(b"{\"jsonrpc\""))
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let (status, text) = answer(HttpBody::new(body), Some(60)).await;
        assert_eq!(status, 408, "{text}");
        assert!(
            text.contains("-32600") && text.contains("did not arrive"),
            "{text}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(sender);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_and_bad_ids_are_refused_and_the_rest_pass() {
        let (status, _) = answer(HttpBody::from(vec![b' '; 65]), None).await;
        assert_eq!(status, 413, "counted as it arrives");
        let (status, _) = answer(HttpBody::from("{}"), Some(1 << 30)).await;
        assert_eq!(status, 413, "refused from the declared length");
        let (status, text) = answer(HttpBody::from(r#"{"id":{},"method":"m"}"#), None).await;
        assert_eq!(status, 200);
        let error: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["error"]["code"], -32600);
        assert_eq!(error["id"], serde_json::Value::Null);
        let fine = r#"{"id":1,"method":"m"}"#;
        assert_eq!(
            answer(HttpBody::from(fine), None).await,
            (200, fine.to_string())
        );
    }

    #[test]
    fn ids_of_the_wrong_type_are_named() {
        for good in [
            r#"{"jsonrpc":"2.0","id":1,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":"x","method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","method":"m"}"#,
            r#"[{"id":1,"method":"m"},{"id":"2","method":"m"}]"#,
            "not json at all",
            "",
        ] {
            assert_eq!(bad_id(good.as_bytes()), None, "{good}");
        }
        for bad in [
            r#"{"jsonrpc":"2.0","id":{"a":1},"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":[1],"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":-1,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":true,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":1e3,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":99999999999999999999999,"method":"m"}"#,
        ] {
            assert!(bad_id(bad.as_bytes()).is_some(), "{bad}");
        }
        let batch = bad_id(br#"[{"id":1,"method":"m"},{"id":{},"method":"m"}]"#).unwrap();
        assert!(batch.starts_with("batch element 1:"), "{batch}");
    }
}
